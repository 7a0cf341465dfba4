"""Workflows: what the commands run, built from the layers below (text -> capture -> analysis -> report).

`scan` (the scan pipeline and `ScanResult`), `anatomy`, `interventions`, `sweep`, `reproduce`.
"""

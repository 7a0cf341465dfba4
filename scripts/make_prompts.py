"""Source of truth for sinkscope's bundled prompt set.

Every text in this file was written from scratch for sinkscope and is released
under Apache-2.0 together with the project (see src/sinkscope/data/LICENSE-DATA.md).

Run from the repository root:

    python scripts/make_prompts.py

It writes src/sinkscope/data/prompts.jsonl (one JSON object per line with keys
"id", "category", "text") and validates the arithmetic in every non-code text
before writing anything.
"""

from __future__ import annotations

import json
import re
import sys
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "sinkscope" / "data"

# ---------------------------------------------------------------------------
# Math word problems, each with a worked step-by-step solution.
# ---------------------------------------------------------------------------
MATH: list[str] = [
    """Problem: A bakery bakes 12 trays of muffins, and each tray holds 24 muffins. During the morning the bakery sells 205 muffins, and during the afternoon it sells 63 more. At closing time, the baker packs the leftover muffins into boxes of 4 to give to a food bank. How many muffins are left, and how many boxes does the baker fill?

Solution:
Step 1. Find the total number of muffins baked. There are 12 trays with 24 muffins each, so 12 x 24 = 288 muffins.
Step 2. Find the total number sold. The bakery sells 205 in the morning and 63 in the afternoon, so 205 + 63 = 268 muffins.
Step 3. Subtract to find the leftovers: 288 - 268 = 20 muffins.
Step 4. Divide the leftovers into boxes of 4: 20 / 4 = 5 boxes.
Check: 5 boxes of 4 muffins hold 5 x 4 = 20 muffins, and 268 + 20 = 288, which matches the number baked.

Answer: 20 muffins are left, and they fill 5 boxes.""",
    """Problem: A train leaves a station and travels at 80 kilometers per hour for 3 hours. It then slows down because of track repairs and travels at 60 kilometers per hour for 2 more hours. How far does the train travel in total, and what is its average speed for the whole trip?

Solution:
First, find the distance for each part of the trip. Distance equals speed times time.
For the first part, 80 x 3 = 240 kilometers.
For the second part, 60 x 2 = 120 kilometers.
Next, add the two distances: 240 + 120 = 360 kilometers.
The total time is 3 + 2 = 5 hours.
The average speed is the total distance divided by the total time, so 360 / 5 = 72 kilometers per hour.
Notice that the average speed is not simply the average of 80 and 60. That simple average would be 70, but the train spent more time at the faster speed, so the true average is pulled upward, toward 80.

Answer: The train travels 360 kilometers, and its average speed is 72 kilometers per hour.""",
    """Problem: Maria thinks of a whole number. She multiplies it by 3, then adds 7, and gets 46. What number did Maria start with?

Solution:
We can undo each step in reverse order. Call the unknown number n.
The operations were: multiply by 3, then add 7. So 3n + 7 = 46.
Step 1. Undo the addition by subtracting 7 from both sides: 46 - 7 = 39, so 3n = 39.
Step 2. Undo the multiplication by dividing both sides by 3: 39 / 3 = 13, so n = 13.
Check the answer by running the original steps forward. Start with 13. Multiply by 3: 13 x 3 = 39. Add 7: 39 + 7 = 46. This matches the number Maria got, so the answer is correct.
A useful habit is to always check an answer this way. Working backward finds the answer, and working forward confirms it. If the forward check had produced a different number, we would know that a mistake was made somewhere along the way, and we could look for it step by step.

Answer: Maria started with 13.""",
    """Problem: A rectangular garden is 14 meters long and 9 meters wide. The owner wants to put a fence around the whole garden. Fencing costs 7 dollars per meter, and a gate costs an extra 45 dollars. What is the total cost of the fence and gate? Also, what is the area of the garden?

Solution:
Step 1. The perimeter of a rectangle is two lengths plus two widths.
Two lengths: 2 x 14 = 28 meters.
Two widths: 2 x 9 = 18 meters.
Perimeter: 28 + 18 = 46 meters.
Step 2. Cost of the fencing: 46 x 7 = 322 dollars.
Step 3. Add the gate: 322 + 45 = 367 dollars.
Step 4. The area of a rectangle is length times width: 14 x 9 = 126 square meters.
It is easy to mix up perimeter and area. The perimeter measures the distance around the edge, so it is measured in meters. The area measures the space inside, so it is measured in square meters. The fence follows the edge, which is why we used the perimeter to price it, and the area would matter instead if we were buying soil or grass seed.

Answer: The fence and gate cost 367 dollars in total, and the garden has an area of 126 square meters.""",
    """Problem: Sam wants to buy a bicycle that costs 235 dollars. He already has 40 dollars saved, and he can save 15 dollars every week from his paper route. After how many weeks will he have enough money? How much will he have left over after buying the bike?

Solution:
First, find how much more money Sam needs: 235 - 40 = 195 dollars.
Next, find how many weeks of saving that takes. Each week adds 15 dollars, so divide: 195 / 15 = 13 weeks.
Because 13 is a whole number, Sam has exactly enough after 13 weeks, with nothing extra.
Let's check with a running total. After 10 weeks he has saved 10 x 15 = 150 dollars, and 40 + 150 = 190 dollars in total. After 13 weeks he has saved 13 x 15 = 195 dollars, and 40 + 195 = 235 dollars, which is exactly the price.
After 12 weeks he would have saved 12 x 15 = 180 dollars, for a total of 40 + 180 = 220 dollars, which is 15 dollars short. So 13 weeks is the smallest number of weeks that works.

Answer: Sam needs 13 weeks of saving, and he will have 0 dollars left over after he buys the bicycle.""",
    """Problem: A father is 4 times as old as his son. In 20 years, the father will be exactly twice as old as his son. How old are they now?

Solution:
Let s be the son's age now. Then the father's age now is 4s.
In 20 years, the son will be s + 20 and the father will be 4s + 20.
At that time the father is twice as old as the son, so we write the equation:
4s + 20 = 2(s + 20)
Expand the right side: 4s + 20 = 2s + 40.
Subtract 2s from both sides: 2s + 20 = 40.
Subtract 20 from both sides: 2s = 20.
Divide by 2: s = 10.
So the son is 10 years old, and the father is 4 x 10 = 40 years old.
Check: In 20 years, the son will be 10 + 20 = 30 and the father will be 40 + 20 = 60. Since 2 x 30 = 60, the father is indeed twice as old at that time.
It is worth noticing that the age gap never changes. Today the gap is 40 - 10 = 30 years, and in 20 years it is 60 - 30 = 30 years. Only the ratio between the ages changes as time passes.

Answer: The son is 10 and the father is 40.""",
    """Problem: A jacket has a price tag of 80 dollars. The store is offering 25 percent off, and then an 8 percent sales tax is added to the discounted price. How much does the customer pay at the register?

Solution:
Step 1. Find the discount. Twenty-five percent is one quarter, so the discount is 80 / 4 = 20 dollars.
Step 2. Subtract the discount: 80 - 20 = 60 dollars. This is the sale price.
Step 3. Find the tax on the sale price. Eight percent written as a decimal is 0.08, so the tax is 0.08 x 60 = 4.80 dollars.
Step 4. Add the tax: 60 + 4.80 = 64.80 dollars.
A common mistake is to think that 25 percent off and 8 percent tax combine into a simple 17 percent discount. That shortcut gives 80 x 0.83 = 66.40 dollars, which is wrong. The tax is calculated after the discount, on a smaller amount, so the two percentages do not simply cancel each other.
Another way to reach the correct answer is to multiply by both factors in turn: 80 x 0.75 = 60, and then 60 x 1.08 = 64.80.

Answer: The customer pays 64.80 dollars.""",
    """Problem: A pancake recipe serves 4 people. It uses 300 grams of flour, 2 eggs, and 250 milliliters of milk. Priya is cooking breakfast for 10 people. How much of each ingredient does she need?

Solution:
First, find the scaling factor. She is cooking for 10 people instead of 4, so the factor is 10 / 4 = 2.5.
Now multiply each ingredient by 2.5.
Flour: 300 x 2.5 = 750 grams.
Eggs: 2 x 2.5 = 5 eggs.
Milk: 250 x 2.5 = 625 milliliters.
Another way to think about it is to find the amount for one person first, and then multiply by 10.
Flour for one person: 300 / 4 = 75 grams, and 75 x 10 = 750 grams.
Milk for one person: 250 / 4 = 62.5 milliliters, and 62.5 x 10 = 625 milliliters.
Both methods give the same result, which is a good sign that the arithmetic is right. The egg count came out to a whole number, which is convenient. If it had come out to something like 4.5 eggs, Priya would need to round, and most cooks would round up rather than down.

Answer: Priya needs 750 grams of flour, 5 eggs, and 625 milliliters of milk.""",
    """Problem: Pipe A can fill a water tank in 6 hours. Pipe B can fill the same tank in 3 hours. If both pipes are opened at the same time, how long will it take to fill the empty tank?

Solution:
Think about how much of the tank each pipe fills in one hour.
Pipe A fills the tank in 6 hours, so in one hour it fills 1/6 of the tank.
Pipe B fills the tank in 3 hours, so in one hour it fills 1/3 of the tank.
Together, in one hour, they fill 1/6 + 1/3 of the tank. To add these fractions, rewrite 1/3 as 2/6. Then 1/6 + 2/6 = 3/6, which simplifies to 1/2.
So the two pipes together fill half of the tank every hour. That means the full tank takes 2 hours.
Check with a concrete size. Suppose the tank holds 60 liters. Pipe A pours 60 / 6 = 10 liters per hour, and pipe B pours 60 / 3 = 20 liters per hour. Together they pour 10 + 20 = 30 liters per hour, and 60 / 30 = 2 hours.
Notice that the combined time is shorter than the time for either pipe alone, as it should be.

Answer: The tank fills in 2 hours.""",
    """Problem: The sum of three consecutive whole numbers is 96. What are the numbers?

Solution:
Let the smallest number be n. The next two numbers are n + 1 and n + 2.
Their sum is n + (n + 1) + (n + 2). Collect the terms: there are three copies of n, and the constants add to 1 + 2 = 3. So the sum is 3n + 3.
Set this equal to 96: 3n + 3 = 96.
Subtract 3 from both sides. Since 96 - 3 = 93, we get 3n = 93.
Divide both sides by 3. Since 93 / 3 = 31, we get n = 31.
The three numbers are 31, 32, and 33.
Check: 31 + 32 = 63, and 63 + 33 = 96. Correct.
There is also a quick shortcut. For three consecutive numbers, the middle one is the average, so the middle number is 96 / 3 = 32. The numbers on either side of it are 31 and 33.

Answer: The numbers are 31, 32, and 33.""",
    """Problem: A city bus starts its route with 38 passengers. At the first stop, 12 people get off and 9 people get on. At the second stop, 15 people get off and 22 people get on. At the third stop, exactly half of the passengers get off and nobody gets on. How many passengers are on the bus after the third stop?

Solution:
Track the number of passengers one stop at a time.
Start: 38 passengers.
First stop: 38 - 12 = 26, and then 26 + 9 = 35 passengers.
Second stop: 35 - 15 = 20, and then 20 + 22 = 42 passengers.
Third stop: half of 42 get off. Half of 42 is 42 / 2 = 21, so 42 - 21 = 21 passengers remain.
We can double check the first two stops by looking at the net change. At the first stop the net change is 9 - 12, a loss of 3 people, and 38 - 3 = 35. At the second stop the net change is a gain of 22 - 15 = 7 people, and 35 + 7 = 42. Both methods agree.
Keeping a running total like this is the safest way to handle a story with many small changes, because each line depends only on the line before it.

Answer: 21 passengers are on the bus after the third stop.""",
    """Problem: Leo's scores on four tests are 78, 85, 92, and 88. What score does he need on the fifth test to have an average of exactly 87 across all five tests?

Solution:
An average is the total divided by the number of items. If the average of five tests is 87, then the total of the five scores must be 87 x 5 = 435.
Next, add up the four scores Leo already has:
78 + 85 = 163
163 + 92 = 255
255 + 88 = 343
So his current total is 343 points.
The fifth score must make up the difference: 435 - 343 = 92.
Check: 343 + 92 = 435, and 435 / 5 = 87. The average is exactly 87, as required.
It can also help to think of each score as above or below the target. Compared with 87, the first score is 9 below, the second is 2 below, the third is 5 above, and the fourth is 1 above. The total of these differences is 5 below, because 9 + 2 = 11 below and 5 + 1 = 6 above, and 11 - 6 = 5. So the last test must be 5 above the target, which gives 87 + 5 = 92 again.

Answer: Leo needs a 92 on the fifth test.""",
    """Problem: Ana deposits 2000 dollars in a savings account that pays 4 percent interest per year. How much will she have after 3 years with simple interest? How much would she have with interest compounded once a year?

Solution:
Simple interest is calculated only on the original deposit.
Interest per year: 0.04 x 2000 = 80 dollars.
Interest over 3 years: 80 x 3 = 240 dollars.
Total with simple interest: 2000 + 240 = 2240 dollars.

Compound interest is calculated on the balance, which grows each year. Multiply by 1.04 once for each year.
After year 1: 2000 x 1.04 = 2080 dollars.
After year 2: 2080 x 1.04 = 2163.20 dollars.
After year 3: 2163.20 x 1.04 = 2249.728 dollars, which rounds to 2249.73 dollars.

The difference between the two methods is small here: 2249.73 - 2240 = 9.73 dollars. The gap comes from earning interest on earlier interest. In the second year the account earns interest on 2080 dollars instead of 2000 dollars, and in the third year it earns interest on 2163.20 dollars. Over long periods of time this effect grows much larger, which is why compound interest matters so much for retirement savings and for loans.

Answer: About 2240 dollars with simple interest, and about 2249.73 dollars with yearly compounding.""",
    """Problem: Two cyclists start at the same time from towns that are 90 kilometers apart and ride toward each other on the same road. One rides at 18 kilometers per hour, and the other rides at 12 kilometers per hour. After how many hours do they meet, and how far from the first town is the meeting point?

Solution:
Because the cyclists ride toward each other, the distance between them shrinks by both speeds added together every hour.
Closing speed: 18 + 12 = 30 kilometers per hour.
Time to meet: 90 / 30 = 3 hours.
In 3 hours, the first cyclist rides 18 x 3 = 54 kilometers, and the second rides 12 x 3 = 36 kilometers.
Check: 54 + 36 = 90 kilometers, which is the full distance between the towns.
So they meet 54 kilometers from the first town, which is the same as 36 kilometers from the second town.
The idea of a closing speed is very useful. Instead of tracking two moving objects, we can imagine one cyclist standing still while the other approaches at the combined speed of 30 kilometers per hour. The answer is the same, and the arithmetic is simpler.

Answer: They meet after 3 hours, 54 kilometers from the first town.""",
    """Problem: A chemist has a 20 percent salt solution and a 50 percent salt solution. How many liters of each should she mix to make 30 liters of a 30 percent salt solution?

Solution:
Let x be the liters of the 20 percent solution. Then the liters of the 50 percent solution are 30 - x, because the total is 30 liters.
The amount of salt in the final mix must be 30 percent of 30 liters: 0.3 x 30 = 9 liters of salt.
Salt from the first solution: 0.2x. Salt from the second solution: 0.5(30 - x).
Equation: 0.2x + 0.5(30 - x) = 9.
Expand: 0.5 x 30 = 15, so the equation becomes 0.2x + 15 - 0.5x = 9.
Combine the x terms: 15 - 0.3x = 9.
Add 0.3x to both sides and subtract 9 from both sides. Since 15 - 9 = 6, this gives 0.3x = 6.
Divide: x = 6 / 0.3 = 20.
So she uses 20 liters of the 20 percent solution and 30 - 20 = 10 liters of the 50 percent solution.
Check: the salt is 0.2 x 20 = 4 liters plus 0.5 x 10 = 5 liters, and 4 + 5 = 9 liters. The concentration is 9 / 30 = 0.3, which is 30 percent.

Answer: 20 liters of the 20 percent solution and 10 liters of the 50 percent solution.""",
    """Problem: A right triangle has legs of length 6 centimeters and 8 centimeters. Find the length of the hypotenuse, the perimeter, and the area of the triangle.

Solution:
Step 1. Use the Pythagorean theorem, which says that the square of the hypotenuse equals the sum of the squares of the two legs.
Square of the first leg: 6 x 6 = 36.
Square of the second leg: 8 x 8 = 64.
Sum: 36 + 64 = 100.
The hypotenuse is the number whose square is 100. Since 10 x 10 = 100, the hypotenuse is 10 centimeters.
Step 2. The perimeter is the sum of all three sides: 6 + 8 + 10 = 24 centimeters.
Step 3. For a right triangle, the two legs act as the base and the height. The area is half of the base times the height: 6 x 8 = 48, and 48 / 2 = 24 square centimeters.
It is a coincidence that the perimeter and the area are both 24, since they are measured in different units. The triangle with sides 6, 8, and 10 is simply the famous 3, 4, 5 triangle scaled up by a factor of 2, because 3 x 2 = 6, 4 x 2 = 8, and 5 x 2 = 10.

Answer: The hypotenuse is 10 cm, the perimeter is 24 cm, and the area is 24 square cm.""",
    """Problem: A movie starts at 7:45 in the evening and runs for 2 hours and 38 minutes. At what time does it end?

Solution:
Add the hours and the minutes separately, and then fix any overflow of minutes.
Hours: the movie starts in the 7 o'clock hour, and 7 + 2 = 9, so before looking at minutes we are in the 9 o'clock hour.
Minutes: 45 + 38 = 83 minutes.
But an hour has only 60 minutes, so 83 minutes is 1 hour and some extra minutes. The extra is 83 - 60 = 23 minutes.
Carry the extra hour over: 9 + 1 = 10.
So the movie ends at 10:23 in the evening.
Check by counting forward in chunks. From 7:45 to 8:00 is 15 minutes. The movie still has 2 hours and 23 minutes left, because 38 - 15 = 23. Adding 2 hours to 8:00 gives 10:00, and adding 23 minutes gives 10:23. Both approaches agree.

Answer: The movie ends at 10:23 p.m.""",
    """Problem: A grocery store sells cereal in two sizes. Box A holds 18 ounces and costs 4.50 dollars. Box B holds 24 ounces and costs 5.76 dollars. Which box is the better deal? How much money would a family save by buying 72 ounces of cereal in the better size?

Solution:
To compare fairly, find the price per ounce for each box.
Box A: 4.50 / 18 = 0.25 dollars per ounce.
Box B: 5.76 / 24 = 0.24 dollars per ounce.
Box B is cheaper per ounce by one cent.
Now compare the cost of 72 ounces.
With box A: 72 / 18 = 4 boxes, and 4 x 4.50 = 18.00 dollars.
With box B: 72 / 24 = 3 boxes, and 3 x 5.76 = 17.28 dollars.
Savings: 18.00 - 17.28 = 0.72 dollars.
This matches the unit price difference: one cent per ounce for 72 ounces is 72 x 0.01 = 0.72 dollars.
Unit prices are the fairest way to compare packages of different sizes, although it is only a real saving if the family will actually use the larger package before it goes stale.

Answer: Box B is the better deal, and the family saves 72 cents on 72 ounces.""",
    """Problem: An arithmetic sequence begins 5, 9, 13, 17, and so on, adding 4 each time. What is the 20th term, and what is the sum of the first 20 terms?

Solution:
In an arithmetic sequence, each term is the first term plus some number of steps. The 20th term is 19 steps after the first term, not 20, because the first term itself uses no steps.
Size of 19 steps: 19 x 4 = 76.
20th term: 5 + 76 = 81.
To find the sum, pair the first term with the last, the second with the second to last, and so on. Each pair has the same total.
First plus last: 5 + 81 = 86.
Second plus second to last: 9 + 77 = 86.
There are 20 terms, so there are 20 / 2 = 10 pairs.
Sum: 10 x 86 = 860.
The general rule is: the sum equals the number of terms times the average of the first and last terms. Here the average of the first and last terms is 86 / 2 = 43, and 20 x 43 = 860, which matches.

Answer: The 20th term is 81, and the sum of the first 20 terms is 860.""",
    """Problem: What is the sum of all the whole numbers from 1 to 100?

Solution:
Adding the numbers one at a time would take a long while, so we use a pairing trick.
Write the numbers forward and then backward, and add them in pairs:
1 + 100 = 101
2 + 99 = 101
3 + 98 = 101
and so on, all the way to 50 + 51 = 101.
Every pair adds to 101. There are 100 numbers, so there are 100 / 2 = 50 pairs.
The total is 50 x 101 = 5050.
We can test the same trick on a smaller case where we can check by hand. The sum from 1 to 10 is 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 = 55. With the trick, there are 5 pairs that each add to 11, and 5 x 11 = 55. The trick works.
In general, the sum from 1 to n equals n times n plus 1, divided by 2. For n = 100 this gives 100 x 101 / 2 = 5050.

Answer: The sum is 5050.""",
    """Problem: A bag contains 5 red marbles, 3 blue marbles, and 2 green marbles. You draw one marble without looking. What is the probability that it is red? If you draw two marbles, one after the other without putting the first one back, what is the probability that both are red?

Solution:
First count all the marbles: 5 + 3 + 2 = 10.
The probability of drawing a red marble is the number of red marbles divided by the total: 5/10, which simplifies to 1/2.
For two draws without replacement, the second draw depends on the first.
First draw red: 5 red out of 10 marbles, so the chance is 5/10.
If the first was red, there are now 4 red marbles left out of 9 marbles in total.
Second draw red: 4/9.
Multiply the two probabilities: 5/10 x 4/9 = 20/90 = 2/9.
As a decimal, 2/9 is about 0.22, so both marbles are red a bit more than one time in five.
If the first marble were put back before the second draw, the answer would instead be 1/2 x 1/2 = 1/4, which is a little larger. Removing a red marble makes the second red draw slightly less likely.

Answer: The probability of red is 1/2, and the probability of two reds without replacement is 2/9.""",
    """Problem: A kitchen floor measures 360 centimeters by 240 centimeters. It will be covered with square tiles that are 30 centimeters on each side. Tiles are sold in boxes of 10, and each box costs 23 dollars. How many tiles are needed, how many boxes must be bought, and what is the cost?

Solution:
Step 1. Count how many tiles fit along each side of the floor.
Along the long side: 360 / 30 = 12 tiles.
Along the short side: 240 / 30 = 8 tiles.
Step 2. Multiply to get the number of tiles: 12 x 8 = 96 tiles.
Step 3. Boxes hold 10 tiles each. Nine boxes hold 9 x 10 = 90 tiles, which is not enough, because 96 - 90 = 6 tiles would still be missing. So 10 boxes are needed.
Step 4. Cost: 10 x 23 = 230 dollars.
Step 5. With 10 boxes there are 100 tiles, so 100 - 96 = 4 tiles are left over.
Having a few spare tiles is actually helpful, because a tile can crack while it is being cut or set, and spare tiles from the same batch will match in color later.
Check using areas: the floor is 360 x 240 = 86400 square centimeters, and one tile is 30 x 30 = 900 square centimeters. Then 86400 / 900 = 96 tiles, which agrees.

Answer: 96 tiles, 10 boxes, and a cost of 230 dollars.""",
    """Problem: A school play sold 50 tickets and collected 460 dollars. Adult tickets cost 12 dollars and child tickets cost 7 dollars. How many of each kind of ticket were sold?

Solution:
Let a be the number of adult tickets and c be the number of child tickets.
There are two facts, so we write two equations.
Number of tickets: a + c = 50.
Money collected: 12a + 7c = 460.
From the first equation, c = 50 - a. Substitute this into the second equation:
12a + 7(50 - a) = 460.
Multiply out: 7 x 50 = 350, so 12a + 350 - 7a = 460.
Combine like terms: 5a + 350 = 460.
Subtract 350: 460 - 350 = 110, so 5a = 110.
Divide by 5: 110 / 5 = 22, so a = 22.
Then c = 50 - 22 = 28.
Check the money: 12 x 22 = 264 dollars from adults, and 7 x 28 = 196 dollars from children. Together 264 + 196 = 460 dollars. Check the count: 22 + 28 = 50 tickets. Both facts are satisfied.
A quick sanity check is also possible. If all 50 tickets had been child tickets, the total would be 50 x 7 = 350 dollars. Each adult ticket adds 5 extra dollars, and the extra money is 110 dollars, so there must be 110 / 5 = 22 adult tickets.

Answer: 22 adult tickets and 28 child tickets.""",
    """Problem: A town has 12000 residents. The population grows by 10 percent one year, and then it shrinks by 10 percent the next year. Is the population back to 12000? If not, what is the overall percent change?

Solution:
Year 1: growing by 10 percent means multiplying by 1.1.
12000 x 1.1 = 13200 residents.
Year 2: shrinking by 10 percent means multiplying by 0.9.
13200 x 0.9 = 11880 residents.
The population is not back to 12000. It is lower by 12000 - 11880 = 120 residents.
As a percent of the starting population: 120 / 12000 = 0.01, which is 1 percent.
Why does this happen? The 10 percent loss in the second year is taken from a larger number, 13200, than the 10 percent gain in the first year, which was taken from 12000. The gain was 1200 people, but the loss was 1320 people, and 1320 - 1200 = 120.
Another view: the two multipliers combine into one, and 1.1 x 0.9 = 0.99. Multiplying by 0.99 is the same as a 1 percent decrease, whatever the starting number was.

Answer: No. The population ends at 11880, which is a 1 percent decrease overall.""",
    """Problem: Jun wants to paint one wall of his bedroom. The wall is 5 meters wide and 3 meters high, and it has a window that is 1.2 meters wide and 1 meter high. He plans to apply two coats of paint. One liter of paint covers 12 square meters, and paint is sold in 1 liter cans. How many cans should he buy?

Solution:
Step 1. Area of the whole wall: 5 x 3 = 15 square meters.
Step 2. Area of the window: 1.2 x 1 = 1.2 square meters.
Step 3. Area to paint: 15 - 1.2 = 13.8 square meters.
Step 4. Two coats double the area to cover: 13.8 x 2 = 27.6 square meters.
Step 5. Liters needed: 27.6 / 12 = 2.3 liters.
Paint comes only in whole 1 liter cans, and 2 cans would hold just 2 liters, which is less than 2.3 liters. So Jun must buy 3 cans.
He will have 3 - 2.3 = 0.7 liters left over, which is useful for touching up scratches later.
Note the order of the steps. It would be a mistake to double the area before taking out the window, unless the window area were doubled too. Subtracting first and then doubling keeps the steps simple.

Answer: Jun should buy 3 cans of paint.""",
    """Problem: A school is taking 157 students on a field trip. Each bus has 40 seats. How many buses are needed, and how many seats will be empty?

Solution:
Divide the number of students by the number of seats per bus.
157 / 40 is 3 with a remainder. Three full buses carry 3 x 40 = 120 students.
Students still without a seat: 157 - 120 = 37.
Those 37 students need one more bus, so the school needs 3 + 1 = 4 buses.
Four buses have 4 x 40 = 160 seats, so the number of empty seats is 160 - 157 = 3.
This is a problem where the remainder changes the answer. As a decimal, 157 / 40 = 3.925, but nobody can order 3.925 buses. When every person must get a seat, we always round up to the next whole bus.
In other situations the remainder is simply dropped. If the question had asked how many buses could be completely filled, the answer would be 3. Reading the question carefully tells us which way to round.

Answer: 4 buses are needed, and 3 seats will be empty.""",
    """Problem: Two lights blink at the same moment. After that, the red light blinks every 12 seconds and the green light blinks every 18 seconds. After how many seconds will they next blink together? How many more times will they blink together during the first 5 minutes?

Solution:
We need the smallest number that is a multiple of both 12 and 18. This is the least common multiple.
Multiples of 12: 12, 24, 36, 48, and so on.
Multiples of 18: 18, 36, 54, and so on.
The first number in both lists is 36, so the lights blink together again after 36 seconds.
Another way to find it: 12 = 2 x 6 and 18 = 3 x 6, so the least common multiple is 2 x 3 x 6 = 36.
Five minutes is 5 x 60 = 300 seconds.
The lights blink together every 36 seconds, so we divide 300 by 36. Eight of these intervals take 8 x 36 = 288 seconds, and 300 - 288 = 12 seconds remain, which is not enough for a ninth one.
So after the starting blink, they blink together 8 more times in the first 5 minutes.

Answer: They blink together again after 36 seconds, and 8 more times within 5 minutes.""",
    """Problem: A crew of 6 workers can build a stone wall in 10 days. Working at the same rate, how many days would it take a crew of 4 workers to build the same wall? How many workers would be needed to finish it in 5 days?

Solution:
Measure the job in worker-days, which is the number of workers times the number of days.
Total work: 6 x 10 = 60 worker-days.
With 4 workers, the number of days is the total work divided by the number of workers: 60 / 4 = 15 days.
To finish in 5 days, the number of workers is the total work divided by the days: 60 / 5 = 12 workers.
Check both answers: 4 x 15 = 60 and 12 x 5 = 60. Both give the same total work, so they are consistent.
This is an inverse relationship. Fewer workers means more days, and more workers means fewer days. Compare this with buying apples, where twice as many apples cost twice as much. Here, twice as many workers take half as long, at least in the ideal case where the workers do not get in each other's way.

Answer: 4 workers need 15 days, and 12 workers are needed to finish in 5 days.""",
    """Problem: A rectangular rug has an area of 96 square feet. Its length is 4 feet more than its width. What are the dimensions of the rug?

Solution:
Let w be the width in feet. Then the length is w + 4.
Area is width times length, so w(w + 4) = 96.
Expand: w squared plus 4w equals 96.
Move everything to one side: w squared plus 4w minus 96 equals 0.
To factor, look for two numbers that multiply to -96 and add to 4. Try pairs of factors of 96: 8 x 12 = 96, and 12 - 8 = 4. So the numbers are 12 and -8.
The equation factors as (w + 12)(w - 8) = 0.
So w is either -12 or 8. A width cannot be negative, so w = 8.
The length is 8 + 4 = 12 feet.
Check: 8 x 12 = 96 square feet, and 12 - 8 = 4 feet. Both conditions hold.
If factoring had been hard, we could also have tried whole numbers near the square root of 96. Since 9 x 9 = 81 and 10 x 10 = 100, the answer should be a width a little below 10 and a length a little above it, which fits 8 and 12.

Answer: The rug is 8 feet wide and 12 feet long.""",
    """Problem: A boat travels 36 kilometers downstream in 2 hours. The return trip upstream over the same 36 kilometers takes 3 hours. What is the speed of the boat in still water, and what is the speed of the current?

Solution:
Going downstream, the current helps the boat, so the speeds add. Going upstream, the current works against it, so the current speed is subtracted.
Downstream speed: 36 / 2 = 18 kilometers per hour.
Upstream speed: 36 / 3 = 12 kilometers per hour.
Let b be the boat speed in still water and c be the current speed. Then
b + c = 18
b - c = 12
Add the two equations. The c terms cancel, and 18 + 12 = 30, so 2b = 30 and b = 30 / 2 = 15.
Then c = 18 - 15 = 3.
Check: downstream 15 + 3 = 18 and upstream 15 - 3 = 12, and both match the speeds we found.
A neat way to remember this: the boat speed is the average of the downstream and upstream speeds, and the current speed is half of their difference. The difference is 18 - 12 = 6, and half of 6 is 3.

Answer: The boat moves at 15 km per hour in still water, and the current flows at 3 km per hour.""",
    """Problem: A jar holds only quarters and dimes. There are 30 coins in all, and together they are worth 5.40 dollars. How many quarters and how many dimes are in the jar?

Solution:
Work in cents to avoid decimals. A quarter is 25 cents, a dime is 10 cents, and 5.40 dollars is 540 cents.
Let q be the number of quarters and d the number of dimes.
Coins: q + d = 30.
Value: 25q + 10d = 540.
From the first equation, d = 30 - q. Substitute:
25q + 10(30 - q) = 540.
Since 10 x 30 = 300, this becomes 25q + 300 - 10q = 540.
Combine: 15q + 300 = 540.
Subtract: 540 - 300 = 240, so 15q = 240.
Divide: 240 / 15 = 16, so q = 16.
Then d = 30 - 16 = 14.
Check the value: 16 x 25 = 400 cents and 14 x 10 = 140 cents, and 400 + 140 = 540 cents, which is 5.40 dollars. Check the count: 16 + 14 = 30 coins.

Answer: There are 16 quarters and 14 dimes.""",
    """Problem: In a course, homework counts for 20 percent of the grade, quizzes count for 30 percent, and the final exam counts for 50 percent. Rosa scored 90 on homework, 80 on quizzes, and 74 on the final exam. What is her course grade? What would she have needed on the final exam to earn an 82?

Solution:
A weighted average multiplies each score by its weight and then adds the results.
Homework: 0.2 x 90 = 18 points.
Quizzes: 0.3 x 80 = 24 points.
Final exam: 0.5 x 74 = 37 points.
Course grade: 18 + 24 + 37 = 79.
Now work backward for a target of 82. The homework and quizzes are fixed, and they contribute 18 + 24 = 42 points.
The final exam must contribute 82 - 42 = 40 points.
Since the final exam is weighted at 0.5, the needed score is 40 / 0.5 = 80.
Check: 0.5 x 80 = 40, and 42 + 40 = 82.
Notice that each extra point on the final exam raises the course grade by half a point. Rosa was 6 points short on the final, because 80 - 74 = 6, and half of 6 is 3, which is exactly the gap between 79 and 82.

Answer: Rosa's grade is 79, and she would have needed 80 on the final exam to earn an 82.""",
    """Problem: An aquarium is shaped like a box that is 60 centimeters long, 30 centimeters wide, and 40 centimeters high. How many liters of water does it hold when full? If it is filled to three quarters of its height, how many liters does it hold, and about how much does that water weigh?

Solution:
Step 1. The volume of a box is length times width times height.
60 x 30 = 1800 square centimeters for the base.
1800 x 40 = 72000 cubic centimeters.
Step 2. One liter is 1000 cubic centimeters, so 72000 / 1000 = 72 liters.
Step 3. Three quarters of the height means three quarters of the volume, because the base stays the same.
72 x 3 / 4 = 54 liters.
We can confirm this another way. Three quarters of 40 centimeters is 30 centimeters, and 1800 x 30 = 54000 cubic centimeters, which is 54 liters.
Step 4. One liter of water weighs about 1 kilogram, so 54 liters weigh about 54 kilograms. That is why large aquariums need sturdy stands, since the water alone can weigh as much as an adult person.

Answer: 72 liters when full, and 54 liters, weighing about 54 kilograms, at three quarters full.""",
    """Problem: Before a trip, Omar exchanges 550 dollars for euros at a rate of 1.10 dollars per euro. During the trip he spends 320 euros. When he returns, he exchanges the remaining euros back into dollars at a rate of 1.12 dollars per euro, and the exchange office charges a flat fee of 3 dollars. How many dollars does he get back?

Solution:
Step 1. Convert dollars to euros. Each euro costs 1.10 dollars, so divide: 550 / 1.10 = 500 euros.
Step 2. Subtract the spending: 500 - 320 = 180 euros left.
Step 3. Convert back. Each euro is now worth 1.12 dollars, so multiply: 180 x 1.12 = 201.60 dollars.
Step 4. Subtract the fee: 201.60 - 3 = 198.60 dollars.
When converting, it helps to think about which direction makes the number bigger. A euro is worth more than a dollar here, so the number of euros should be smaller than the number of dollars. Dividing 550 by 1.10 gives 500, which is smaller, so the direction is right.
The rate also moved in Omar's favor while he was away. At the old rate, 180 euros would have been worth 180 x 1.10 = 198 dollars, so the new rate gained him 201.60 - 198 = 3.60 dollars, which just about pays the fee.

Answer: Omar gets back 198.60 dollars.""",
    """Problem: Dana earns 18 dollars per hour for the first 40 hours of the week and time and a half for any overtime. Last week she worked 46 hours. If 15 percent of her pay is withheld for taxes, what is her take-home pay?

Solution:
Step 1. Overtime hours: 46 - 40 = 6 hours.
Step 2. Overtime rate: time and a half means 1.5 times the normal rate, so 18 x 1.5 = 27 dollars per hour.
Step 3. Regular pay: 40 x 18 = 720 dollars.
Step 4. Overtime pay: 6 x 27 = 162 dollars.
Step 5. Gross pay: 720 + 162 = 882 dollars.
Step 6. Taxes withheld: 882 x 0.15 = 132.30 dollars.
Step 7. Take-home pay: 882 - 132.30 = 749.70 dollars.
We can also find the take-home pay in one step. Keeping 85 percent of the pay means multiplying by 0.85, and 882 x 0.85 = 749.70 dollars, which matches.
It is worth noticing how much the overtime adds. Six hours is only 6 / 46 of her time, but those hours earned 162 dollars, more than 6 regular hours would, since 6 x 18 = 108 dollars.

Answer: Dana's take-home pay is 749.70 dollars.""",
    """Problem: At a meeting, there are 10 people, and every person shakes hands exactly once with every other person. How many handshakes take place?

Solution:
Method 1: count one person at a time. The first person shakes hands with the 9 others. The second person has already shaken hands with the first, so there are 8 new handshakes. The third person adds 7 new ones, and so on, until the last person has no new handshakes left.
Total: 9 + 8 + 7 + 6 + 5 + 4 + 3 + 2 + 1 = 45.
Method 2: each of the 10 people shakes 9 hands, which gives 10 x 9 = 90. But this counts every handshake twice, once for each person in it. So divide by 2: 90 / 2 = 45.
Both methods give 45 handshakes.
The second method generalizes nicely. For n people, the number of handshakes is n times n minus 1, divided by 2. For 4 people, that gives 4 x 3 / 2 = 6, and we can check by listing them: if the people are A, B, C, and D, the handshakes are AB, AC, AD, BC, BD, and CD, which is 6.

Answer: 45 handshakes take place.""",
    """Problem: A circular flower bed has a radius of 7 meters. Using 22/7 as an approximation for pi, find the length of edging needed to go around the bed and the area of the bed.

Solution:
The distance around a circle is its circumference, which equals 2 times pi times the radius.
Circumference: 2 x 22/7 x 7 = 44 meters.
The 7 in the radius cancels the 7 in the denominator, which is why 22/7 is such a convenient choice when the radius is a multiple of 7.
The area of a circle equals pi times the radius times the radius.
Area: 22/7 x 7 x 7 = 154 square meters.
Again, one 7 cancels, leaving 22 x 7 = 154.
If we use 3.14 for pi instead, the area is 3.14 x 49 = 153.86 square meters, and the circumference is 2 x 3.14 x 7 = 43.96 meters. These are very close to the answers above, since 22/7 and 3.14 are both close to the true value of pi.
Edging is sold in whole meters, so a gardener would buy 44 meters of edging, or perhaps a little more to allow for overlap at the joint.

Answer: About 44 meters of edging and an area of about 154 square meters.""",
    """Problem: Two friends start a small business. Kim puts in 3 parts of the money and Lee puts in 4 parts, so they agree to share the profit in the ratio 3 to 4. In the first month, the profit is 84 dollars. How much does each person get?

Solution:
A ratio of 3 to 4 means the profit is split into equal parts, with Kim getting 3 of them and Lee getting 4.
Total number of parts: 3 + 4 = 7.
Value of one part: 84 / 7 = 12 dollars.
Kim's share: 3 x 12 = 36 dollars.
Lee's share: 4 x 12 = 48 dollars.
Check: 36 + 48 = 84 dollars, which is the whole profit. Also, 36 / 12 = 3 and 48 / 12 = 4, so the shares are in the ratio 3 to 4.
A frequent mistake is to divide 84 by 3 and by 4 separately, which gives 28 and 21. Those numbers add to 28 + 21 = 49, not 84, so they cannot be right. Always divide by the total number of parts first.

Answer: Kim gets 36 dollars, and Lee gets 48 dollars.""",
    """Problem: A staircase has 6 steps. You can climb either 1 step or 2 steps at a time. In how many different ways can you climb to the top?

Solution:
Build the answer from smaller staircases. Think about the last move to reach a step. You either came from one step below, with a 1 step move, or from two steps below, with a 2 step move. So the number of ways to reach a step is the sum of the ways to reach the two steps below it.
Step 1: only one way, a single 1 step move. Ways: 1.
Step 2: two 1 step moves, or one 2 step move. Ways: 2.
Step 3: 1 + 2 = 3 ways.
Step 4: 2 + 3 = 5 ways.
Step 5: 3 + 5 = 8 ways.
Step 6: 5 + 8 = 13 ways.
We can check step 3 by listing every way: 1 then 1 then 1, 1 then 2, and 2 then 1. That is 3 ways, which matches.
These numbers, 1, 2, 3, 5, 8, 13, are the Fibonacci numbers, where each number is the sum of the two before it. The same pattern appears in many counting problems that can be broken into smaller copies of themselves.

Answer: There are 13 ways to climb the 6 steps.""",
    """Problem: A car uses 6.5 liters of fuel for every 100 kilometers. Three friends take a trip of 420 kilometers, and fuel costs 1.60 dollars per liter. How much fuel do they use, what does it cost, and how much does each friend pay if they split the cost equally?

Solution:
Step 1. Find how many hundreds of kilometers the trip covers: 420 / 100 = 4.2.
Step 2. Fuel used: 4.2 x 6.5 = 27.3 liters.
Step 3. Fuel cost: 27.3 x 1.60 = 43.68 dollars.
Step 4. Each friend's share: 43.68 / 3 = 14.56 dollars.
Check step 2 by splitting the multiplication: 4 x 6.5 = 26 and 0.2 x 6.5 = 1.3, and 26 + 1.3 = 27.3 liters.
Check step 3 the same way: 27.3 x 1 = 27.3 and 27.3 x 0.6 = 16.38, and 27.3 + 16.38 = 43.68 dollars.
Check step 4: 14.56 x 3 = 43.68 dollars.
Fuel use measured in liters per 100 kilometers works the opposite way from miles per gallon. A smaller number is better, because it means the car uses less fuel to cover the same distance.

Answer: They use 27.3 liters of fuel costing 43.68 dollars, and each friend pays 14.56 dollars.""",
    """Problem: A class has 32 students. Three eighths of them walk to school, one quarter take the bus, and the rest come by car. How many students come by car, and what percent of the class is that?

Solution:
Step 1. Students who walk: one eighth of 32 is 32 / 8 = 4, so three eighths is 3 x 4 = 12 students.
Step 2. Students who take the bus: one quarter of 32 is 32 / 4 = 8 students.
Step 3. Students who walk or take the bus: 12 + 8 = 20.
Step 4. Students who come by car: 32 - 20 = 12.
Step 5. As a fraction of the class, 12 / 32 = 0.375, which is 37.5 percent.
Check with fractions. Walking is 3/8 and the bus is 1/4, which equals 2/8. Together that is 3/8 + 2/8 = 5/8 of the class. The rest is 3/8, and 3/8 of 32 is 12, which matches step 4.
Notice that the same number of students walk as come by car. Both groups are three eighths of the class, and 3 / 8 = 0.375 as well.

Answer: 12 students come by car, which is 37.5 percent of the class.""",
    """Problem: A resting human heart beats about 72 times per minute. At that rate, about how many times does it beat in one hour, in one day, and in one week?

Solution:
Step 1. One hour has 60 minutes, so in one hour the heart beats 72 x 60 = 4320 times.
Step 2. One day has 24 hours, so in one day it beats 4320 x 24 = 103680 times.
Step 3. One week has 7 days, so in one week it beats 103680 x 7 = 725760 times.
To check step 2, split the multiplication into easier pieces: 4320 x 20 = 86400 and 4320 x 4 = 17280, and 86400 + 17280 = 103680.
To check step 3, round first: 100000 x 7 = 700000, and 3680 x 7 = 25760, and 700000 + 25760 = 725760.
These are estimates, of course. A real heart rate changes all day, rising during exercise and falling during sleep, so the true totals could be noticeably higher or lower. Still, the calculation shows that a heart beats roughly one hundred thousand times every day.

Answer: About 4320 beats per hour, 103680 beats per day, and 725760 beats per week.""",
]

# ---------------------------------------------------------------------------
# Code: a short task statement followed by a commented solution.
# ---------------------------------------------------------------------------
CODE: list[str] = [
    r'''Task: Write a Python function that counts how often each word appears in a text file, ignoring case and punctuation, and prints the 5 most common words.

Solution (Python):

import re
from collections import Counter


def top_words(path, n=5):
    """Return the n most common words in the file at path."""
    counts = Counter()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            # Lowercase the line, then keep only runs of letters and apostrophes.
            words = re.findall(r"[a-z']+", line.lower())
            counts.update(words)
    return counts.most_common(n)


if __name__ == "__main__":
    for word, count in top_words("notes.txt"):
        print(f"{word}: {count}")

The file is read one line at a time, so even a very large file does not need to fit in memory. Counter keeps the tallies, and most_common sorts them for us.''',
    r"""Task: Write a Python function that checks whether a sentence is a palindrome, ignoring spaces, punctuation, and capital letters.

Solution (Python):

def is_palindrome(text):
    # Keep only letters and digits, all in lowercase.
    cleaned = [ch.lower() for ch in text if ch.isalnum()]
    # A palindrome reads the same forward and backward.
    return cleaned == cleaned[::-1]


print(is_palindrome("Step on no pets."))    # True
print(is_palindrome("Hello, world!"))       # False""",
    r"""Task: Implement binary search in Python. Given a sorted list and a target value, return the index of the target, or -1 if it is not in the list.

Solution (Python):

def binary_search(items, target):
    low, high = 0, len(items) - 1
    while low <= high:
        # Look at the middle of the remaining range.
        mid = (low + high) // 2
        if items[mid] == target:
            return mid
        if items[mid] < target:
            # The target can only be in the right half.
            low = mid + 1
        else:
            # The target can only be in the left half.
            high = mid - 1
    return -1


numbers = [2, 5, 8, 12, 16, 23, 38, 56, 72, 91]
print(binary_search(numbers, 23))   # 5
print(binary_search(numbers, 7))    # -1

Each pass through the loop halves the range that is left, so a list of one million items needs at most about 20 comparisons. The list must already be sorted, or the answer can be wrong.""",
    r"""Task: In JavaScript, write a debounce helper. It should wrap a function so that the function only runs after the caller has stopped calling it for a given number of milliseconds. This is handy for search boxes that should not send a request on every key press.

Solution (JavaScript):

function debounce(fn, waitMs) {
  let timerId = null;
  return function (...args) {
    // Cancel the call that was scheduled by the previous invocation.
    clearTimeout(timerId);
    // Schedule a new call; it only runs if no other call arrives in time.
    timerId = setTimeout(() => {
      fn.apply(this, args);
    }, waitMs);
  };
}

// Example: only search 300 ms after the user stops typing.
const input = document.querySelector("#search");
const runSearch = debounce((event) => {
  console.log("Searching for", event.target.value);
}, 300);
input.addEventListener("input", runSearch);""",
    r"""Task: Using SQL, list the five customers who have spent the most money in total. The tables are customers(id, name) and orders(id, customer_id, amount, created_at).

Solution (SQL):

-- Add up every order per customer, then keep the five largest totals.
SELECT
    c.id,
    c.name,
    SUM(o.amount) AS total_spent,
    COUNT(o.id)   AS order_count
FROM customers AS c
JOIN orders AS o
    ON o.customer_id = c.id
GROUP BY c.id, c.name
ORDER BY total_spent DESC
LIMIT 5;

The JOIN matches each order to its customer, GROUP BY collapses the orders of each customer into one row, and ORDER BY with LIMIT keeps only the top five. Customers with no orders at all are left out, which is what we want for this question.""",
    r"""Task: Write a shell command that shows the 10 largest files under the current directory, with human readable sizes.

Solution (shell):

# find prints every regular file with its size in bytes,
# sort orders them numerically from largest to smallest,
# head keeps the first ten lines.
find . -type f -printf '%s\t%p\n' \
  | sort -rn \
  | head -n 10 \
  | awk -F'\t' '{ printf "%8.1f MB  %s\n", $1 / 1048576, $2 }'

The awk step converts bytes into megabytes, since one megabyte here is 1024 times 1024 bytes.""",
    r"""Task: Merge two lists that are already sorted into one sorted list, without calling sort.

Solution (Python):

def merge_sorted(left, right):
    merged = []
    i, j = 0, 0
    # Repeatedly take the smaller front item from the two lists.
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    # One list is used up; the rest of the other is already in order.
    merged.extend(left[i:])
    merged.extend(right[j:])
    return merged


print(merge_sorted([1, 4, 9], [2, 3, 10, 11]))
# [1, 2, 3, 4, 9, 10, 11]

This is the heart of merge sort. It looks at every item once, so it runs in time proportional to the total length of the two lists.""",
    r"""Task: A CSV file called temperatures.csv has the columns city, date, and celsius. Write a Python script that prints the average temperature for each city, rounded to one decimal place.

Solution (Python):

import csv
from collections import defaultdict

totals = defaultdict(float)   # sum of readings per city
counts = defaultdict(int)     # number of readings per city

with open("temperatures.csv", newline="", encoding="utf-8") as handle:
    reader = csv.DictReader(handle)
    for row in reader:
        city = row["city"].strip()
        try:
            value = float(row["celsius"])
        except ValueError:
            # Skip rows where the reading is missing or not a number.
            continue
        totals[city] += value
        counts[city] += 1

for city in sorted(totals):
    average = totals[city] / counts[city]
    print(f"{city}: {average:.1f} C")

Using DictReader means the code reads columns by name, so it keeps working even if the column order in the file changes.""",
    r"""Task: In JavaScript, load a list of books from a JSON endpoint and show their titles in an unordered list on the page. Show a friendly message if the request fails.

Solution (JavaScript):

async function showBooks() {
  const list = document.querySelector("#book-list");
  try {
    const response = await fetch("/api/books");
    if (!response.ok) {
      // fetch only rejects on network errors, so check the status too.
      throw new Error(`Server answered ${response.status}`);
    }
    const books = await response.json();
    list.innerHTML = "";
    for (const book of books) {
      const item = document.createElement("li");
      // textContent avoids injecting HTML from the data.
      item.textContent = `${book.title} by ${book.author}`;
      list.appendChild(item);
    }
  } catch (error) {
    list.textContent = "Sorry, the book list could not be loaded.";
    console.error(error);
  }
}

showBooks();""",
    r"""Task: Write a SQL query that shows total revenue per month for the year 2023, using a table sales(id, sold_at, quantity, unit_price).

Solution (SQL, PostgreSQL):

SELECT
    date_trunc('month', sold_at)  AS month,
    SUM(quantity * unit_price)    AS revenue
FROM sales
WHERE sold_at >= '2023-01-01'
  AND sold_at <  '2024-01-01'   -- half-open range includes all of December 31
GROUP BY month
ORDER BY month;

date_trunc rounds each timestamp down to the first moment of its month, so all sales from the same month share one group.""",
    r"""Task: Rename every file ending in .jpeg in the current folder so that it ends in .jpg instead.

Solution (bash):

#!/usr/bin/env bash
set -euo pipefail

for file in *.jpeg; do
  # If no file matches, the pattern stays as the literal text "*.jpeg".
  [ -e "$file" ] || continue
  # ${file%.jpeg} removes the old extension from the end of the name.
  mv -n -- "$file" "${file%.jpeg}.jpg"
done

The -n flag tells mv not to overwrite a file that already has the new name, and the double quotes keep names with spaces in one piece.""",
    r"""Task: Model a small shop inventory in Python. Each item has a name, a unit price, and a quantity. Write code that computes the total value of the stock and lists items that are running low.

Solution (Python):

from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price: float
    quantity: int

    def value(self):
        # Value of this line of stock.
        return self.price * self.quantity


stock = [
    Item("pencil", 0.50, 120),
    Item("notebook", 2.75, 8),
    Item("eraser", 0.30, 45),
    Item("ruler", 1.20, 3),
]

total = sum(item.value() for item in stock)
print(f"Total stock value: {total:.2f}")

LOW_STOCK = 10
for item in stock:
    if item.quantity < LOW_STOCK:
        print(f"Reorder soon: {item.name} (only {item.quantity} left)")

The dataclass decorator writes the constructor and a readable repr for us, so the class stays short.""",
    r"""Task: Build a small least recently used (LRU) cache in Python with a fixed capacity. Reading or writing a key marks it as recently used, and when the cache is full the least recently used key is removed.

Solution (Python):

from collections import OrderedDict


class LRUCache:
    def __init__(self, capacity):
        self.capacity = capacity
        self.data = OrderedDict()

    def get(self, key, default=None):
        if key not in self.data:
            return default
        # Move the key to the end, which marks it as most recently used.
        self.data.move_to_end(key)
        return self.data[key]

    def put(self, key, value):
        if key in self.data:
            self.data.move_to_end(key)
        self.data[key] = value
        if len(self.data) > self.capacity:
            # The first item is the one used least recently.
            self.data.popitem(last=False)


cache = LRUCache(2)
cache.put("a", 1)
cache.put("b", 2)
cache.get("a")        # "a" is now the most recent
cache.put("c", 3)     # evicts "b"
print(list(cache.data))   # ['a', 'c']""",
    r"""Task: Write a JavaScript function that splits an array into chunks of a given size.

Solution (JavaScript):

function chunk(array, size) {
  if (size <= 0) throw new RangeError("size must be positive");
  const result = [];
  // Step through the array size items at a time.
  for (let i = 0; i < array.length; i += size) {
    result.push(array.slice(i, i + size));
  }
  return result;
}

console.log(chunk([1, 2, 3, 4, 5, 6, 7], 3));
// [[1, 2, 3], [4, 5, 6], [7]]""",
    r"""Task: Find email addresses that appear more than once in a users table, and show how many times each one appears.

Solution (SQL):

-- Compare emails in lowercase so that Ann@Example.com and ann@example.com match.
SELECT
    LOWER(email) AS email,
    COUNT(*)     AS copies
FROM users
GROUP BY LOWER(email)
HAVING COUNT(*) > 1
ORDER BY copies DESC, email;

HAVING filters groups after they are formed, while WHERE filters single rows before grouping. That is why the condition on COUNT has to go in HAVING.""",
    r"""Task: Write a bash script that makes a compressed backup of a folder, names the archive with today's date, and deletes backups older than 14 days.

Solution (bash):

#!/usr/bin/env bash
set -euo pipefail

SOURCE_DIR="${1:-$HOME/documents}"
BACKUP_DIR="${2:-$HOME/backups}"
STAMP="$(date +%Y-%m-%d)"

mkdir -p "$BACKUP_DIR"

# -c create, -z gzip, -f file name; -C changes directory first,
# so the archive stores relative paths instead of full ones.
tar -czf "$BACKUP_DIR/backup-$STAMP.tar.gz" \
    -C "$(dirname "$SOURCE_DIR")" "$(basename "$SOURCE_DIR")"

# Remove archives that were last modified more than 14 days ago.
find "$BACKUP_DIR" -name 'backup-*.tar.gz' -mtime +14 -delete

echo "Backup written to $BACKUP_DIR/backup-$STAMP.tar.gz"

Running this once a day from cron keeps about two weeks of history without filling the disk.""",
    r"""Task: Flatten a nested Python list of any depth, such as [1, [2, [3, 4]], 5], into a flat list.

Solution (Python):

def flatten(items):
    flat = []
    for item in items:
        if isinstance(item, list):
            # Recurse into the inner list and add its items.
            flat.extend(flatten(item))
        else:
            flat.append(item)
    return flat


print(flatten([1, [2, [3, 4]], 5, [[6]]]))   # [1, 2, 3, 4, 5, 6]""",
    r"""Task: Use the Sieve of Eratosthenes to list all prime numbers up to a limit n.

Solution (Python):

def primes_up_to(n):
    if n < 2:
        return []
    # is_prime[k] says whether k is still considered prime.
    is_prime = [True] * (n + 1)
    is_prime[0] = is_prime[1] = False
    p = 2
    while p * p <= n:
        if is_prime[p]:
            # Cross out multiples of p, starting at p * p,
            # because smaller multiples were crossed out already.
            for multiple in range(p * p, n + 1, p):
                is_prime[multiple] = False
        p += 1
    return [k for k, prime in enumerate(is_prime) if prime]


print(primes_up_to(30))
# [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]

The sieve only needs to cross out multiples of numbers up to the square root of n. Any composite number larger than that has a smaller factor, so it was already crossed out.""",
    r"""Task: Given an array of objects, group them by the value of one property. For example, group a list of people by their city.

Solution (JavaScript):

function groupBy(items, key) {
  return items.reduce((groups, item) => {
    const value = item[key];
    // Create the bucket the first time this value is seen.
    if (!groups[value]) {
      groups[value] = [];
    }
    groups[value].push(item);
    return groups;
  }, {});
}

const people = [
  { name: "Ada", city: "Lisbon" },
  { name: "Ben", city: "Oslo" },
  { name: "Cleo", city: "Lisbon" },
];

console.log(groupBy(people, "city"));
// { Lisbon: [Ada, Cleo], Oslo: [Ben] }""",
    r"""Task: List all customers who have never placed an order. Tables: customers(id, name, email) and orders(id, customer_id, amount).

Solution (SQL):

-- A LEFT JOIN keeps every customer, even those with no matching order.
-- For those customers, the columns from orders are NULL.
SELECT c.id, c.name, c.email
FROM customers AS c
LEFT JOIN orders AS o
    ON o.customer_id = c.id
WHERE o.id IS NULL
ORDER BY c.name;

The same result can be written with NOT EXISTS, which some databases plan more efficiently:

SELECT c.id, c.name, c.email
FROM customers AS c
WHERE NOT EXISTS (
    SELECT 1 FROM orders AS o WHERE o.customer_id = c.id
);""",
    r"""Task: A web server writes log lines like the following:

203.0.113.7 - - [12/Mar/2024:10:15:32 +0000] "GET /index.html HTTP/1.1" 200 5120

Write a Python script that reads the log and reports how many requests ended with each HTTP status code.

Solution (Python):

import re
import sys
from collections import Counter

# The status code is the three-digit number right after the quoted request.
LINE = re.compile(r'"[A-Z]+ \S+ [^"]*" (\d{3}) ')


def count_status(lines):
    counts = Counter()
    for line in lines:
        match = LINE.search(line)
        if match:
            counts[match.group(1)] += 1
    return counts


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "access.log"
    with open(path, encoding="utf-8", errors="replace") as handle:
        counts = count_status(handle)
    for status, n in sorted(counts.items()):
        print(status, n)

Lines that do not match the pattern are skipped instead of crashing the script, because real log files often contain a few malformed entries.""",
    r"""Task: Count the total number of lines in all Python files of a project, skipping the virtual environment folder.

Solution (shell):

# -name '*.py' selects Python files; -prune skips the .venv folder entirely.
find . -path ./.venv -prune -o -name '*.py' -print0 \
  | xargs -0 cat \
  | wc -l

Using -print0 with xargs -0 keeps file names with spaces intact.""",
    r"""Task: Without using any libraries, write Python functions to transpose a matrix and to multiply two matrices, where a matrix is a list of rows.

Solution (Python):

def transpose(m):
    # Row i of the result is column i of the input.
    return [list(row) for row in zip(*m)]


def matmul(a, b):
    if len(a[0]) != len(b):
        raise ValueError("inner dimensions do not match")
    b_cols = transpose(b)
    # Each entry is the dot product of a row of a and a column of b.
    return [
        [sum(x * y for x, y in zip(row, col)) for col in b_cols]
        for row in a
    ]


a = [[1, 2],
     [3, 4]]
b = [[5, 6],
     [7, 8]]
print(matmul(a, b))   # [[19, 22], [43, 50]]

For example, the top left entry of the product is 1 times 5 plus 2 times 7, which is 19.""",
    r"""Task: Write a tiny event emitter class in JavaScript with on, off, and emit methods.

Solution (JavaScript):

class EventEmitter {
  constructor() {
    // Maps an event name to a Set of listener functions.
    this.listeners = new Map();
  }

  on(name, fn) {
    if (!this.listeners.has(name)) {
      this.listeners.set(name, new Set());
    }
    this.listeners.get(name).add(fn);
    // Return a function that removes this listener again.
    return () => this.off(name, fn);
  }

  off(name, fn) {
    const set = this.listeners.get(name);
    if (set) set.delete(fn);
  }

  emit(name, ...args) {
    const set = this.listeners.get(name);
    if (!set) return;
    // Copy first, so listeners may remove themselves while we loop.
    for (const fn of [...set]) {
      fn(...args);
    }
  }
}

const bus = new EventEmitter();
const stop = bus.on("saved", (file) => console.log("saved", file));
bus.emit("saved", "report.txt");   // prints: saved report.txt
stop();
bus.emit("saved", "other.txt");    // prints nothing""",
    r"""Task: Compress a string with run-length encoding, so that "aaabccdddd" becomes "a3b1c2d4", and write the matching decoder.

Solution (Python):

from itertools import groupby
import re


def encode(text):
    # groupby yields each character together with its run of repeats.
    return "".join(f"{ch}{len(list(run))}" for ch, run in groupby(text))


def decode(code):
    # Each piece is one non-digit character followed by a count.
    return "".join(ch * int(n) for ch, n in re.findall(r"(\D)(\d+)", code))


packed = encode("aaabccdddd")
print(packed)            # a3b1c2d4
print(decode(packed))    # aaabccdddd

This simple version assumes the original text contains no digits, since a digit in the text would be confused with a count.""",
    r"""Task: Check whether the brackets in a string are balanced. Round, square, and curly brackets must each close in the right order.

Solution (Python):

PAIRS = {")": "(", "]": "[", "}": "{"}


def balanced(text):
    stack = []
    for ch in text:
        if ch in "([{":
            # Remember every opening bracket.
            stack.append(ch)
        elif ch in PAIRS:
            # A closing bracket must match the most recent opener.
            if not stack or stack.pop() != PAIRS[ch]:
                return False
    # Any opener left on the stack was never closed.
    return not stack


print(balanced("f(a[1], {b: 2})"))   # True
print(balanced("(]"))                # False
print(balanced("((x)"))              # False""",
]

# ---------------------------------------------------------------------------
# Prose: expository paragraphs on science, history and how things work.
# ---------------------------------------------------------------------------
PROSE: list[str] = [
    """How a refrigerator keeps food cold

A refrigerator does not create cold. Instead, it moves heat from the inside of the box to the room outside. It does this with a fluid called a refrigerant, which circulates through a closed loop of pipes. When the refrigerant passes through an expansion valve, its pressure drops suddenly, and it becomes very cold. The cold refrigerant flows through coils inside the fridge, where it absorbs heat from the food and the air, and it evaporates into a gas. A compressor then squeezes this gas, which raises its pressure and its temperature. The hot gas flows through coils on the back or the bottom of the fridge, where it gives off its heat to the kitchen and condenses back into a liquid. Then the cycle starts again. This is why the back of a refrigerator feels warm, and why a fridge with its door left open actually warms the room a little, since the motor adds heat of its own while it works.""",
    """Photosynthesis in plain words

Plants, algae, and some bacteria make their own food through a process called photosynthesis. Inside the cells of a leaf are small green structures called chloroplasts. They contain chlorophyll, a pigment that absorbs red and blue light and reflects green light, which is why most leaves look green. The energy captured from sunlight is used to split water molecules that the plant has pulled up from its roots. This releases oxygen, which escapes through tiny pores in the leaf, along with hydrogen and energy carriers that the cell can use. In a second set of reactions, the plant takes carbon dioxide from the air and, using those energy carriers, builds it into sugar. The sugar can be burned for energy, stored as starch, or turned into cellulose to build new cell walls. Almost all the oxygen we breathe and most of the food we eat trace back to this quiet chemical work happening in leaves and in the ocean.""",
    """The water cycle

The water on Earth is constantly moving, in a loop that has no real beginning or end. Sunlight warms the surface of oceans, lakes, and rivers, and some of the water evaporates into the air as invisible vapor. Plants add more vapor as water escapes from their leaves. As warm, moist air rises, it cools, and the vapor condenses onto tiny particles of dust or salt, forming the droplets that make up clouds. When the droplets grow heavy enough, they fall as rain, snow, sleet, or hail. Some of that water runs off the land into streams and back to the sea. Some soaks into the soil and becomes groundwater, which can stay underground for days or for thousands of years. Some is locked away for a long time in glaciers and ice sheets. The total amount of water stays roughly the same, but it is always changing places and changing form.""",
    """The printing press and the spread of ideas

Before the middle of the fifteenth century, books in Europe were usually copied by hand, which made them slow to produce and expensive to buy. Around 1450, Johannes Gutenberg, working in Mainz, developed a printing system built around movable metal type. Each letter was cast as a small separate block, and the blocks could be arranged into lines, locked into a frame, inked, and pressed onto paper. After printing, the type could be taken apart and reused for the next page. Gutenberg also worked out an oil-based ink that stuck well to metal and a press adapted from the screw presses used for wine and olives. Printing spread quickly to cities across Europe. Within a few decades, printers had produced a very large number of books and pamphlets. Cheaper texts helped more people learn to read, allowed scholars to compare identical copies of the same work, and let new ideas, in religion and science alike, travel faster than any authority could easily control.""",
    """How vaccines train the immune system

The immune system learns to fight germs by meeting them. The first time it encounters a new virus or bacterium, it takes days to recognize the invader and to produce the right antibodies and specialized cells, and in that time the person may become quite sick. A vaccine offers a safer first meeting. It presents the immune system with a harmless version or a piece of the germ, such as an inactivated virus, a single protein from its surface, or genetic instructions that tell the body's own cells to make that protein for a short time. The immune system responds as if it were a real infection. Afterwards, some of the cells involved remain as memory cells. If the real germ arrives later, these memory cells recognize it quickly, and the body can mount a strong defense before the infection takes hold. Some vaccines need booster doses, because memory fades over time or because the germ changes its appearance.""",
    """Plate tectonics

The outer shell of the Earth is not one solid piece. It is broken into large plates that fit together like the pieces of a cracked eggshell, and these plates move slowly, at roughly the speed that fingernails grow. Where two plates pull apart, as along the middle of the Atlantic Ocean, hot rock rises from below, cools, and forms new ocean floor. Where two plates push together, one may slide beneath the other and sink back into the mantle, a process called subduction. Subduction zones produce deep ocean trenches, chains of volcanoes, and some of the strongest earthquakes. When two continents collide, neither sinks easily, so the crust crumples and thickens into high mountain ranges. In other places, plates grind sideways past each other, and stress builds up along the boundary until it is released suddenly as an earthquake. Over millions of years, this slow motion has opened and closed oceans and rearranged the continents many times.""",
    """Why arches are strong

An arch is one of the oldest ways to span an opening with heavy materials like stone or brick. Stone is very strong when it is squeezed, but it cracks easily when it is bent or pulled. A flat stone beam over a wide gap bends under its own weight, and the bottom of the beam is stretched until it breaks. An arch avoids this problem by turning the downward weight into a sideways push that runs along the curve. Each wedge-shaped stone, called a voussoir, presses against its neighbors, so the whole arch is held together in compression. At the base, the arch pushes outward as well as down, so it needs solid supports, called abutments, to keep its feet from spreading. While an arch is being built it cannot stand on its own, so builders rest the stones on a temporary wooden frame. Once the central keystone is placed, the frame can be removed, and the arch carries itself.""",
    """Roman aqueducts

The cities of ancient Rome needed a steady supply of fresh water for drinking, for public fountains, and for the famous public baths. Roman engineers met this need with aqueducts, channels that carried water from springs and rivers in the hills, sometimes over many kilometers. Most of an aqueduct's length actually ran underground or along the surface, in covered channels lined with waterproof mortar. The tall stone bridges with rows of arches that people picture today were used only where the channel had to cross a valley. The whole system worked by gravity alone. Engineers had to survey the route so that the channel sloped downhill very gently and very evenly, because a slope that was too steep would make the water erode the channel, and a slope that was too shallow would let it stagnate. At the city, the water flowed into distribution tanks and then through lead or clay pipes to fountains, baths, and the homes of wealthy citizens.""",
    """How a battery stores energy

A battery stores energy in chemical form and releases it as electricity. Every battery has two electrodes, called the anode and the cathode, separated by an electrolyte, a material that lets charged atoms, called ions, move through it but blocks electrons. The chemicals at the anode would like to give up electrons, and the chemicals at the cathode would like to accept them. Because electrons cannot cross the electrolyte, they can only travel from one side to the other through an outside wire. When you connect a device, electrons flow through the wire and power the device along the way, while ions move through the electrolyte inside the battery to balance the charge. When the chemicals are used up, the battery is flat. In a rechargeable battery, such as a lithium ion cell, a charger pushes the electrons and ions back the other way, restoring the original chemical arrangement so the cycle can run again.""",
    """Tides and the Moon

Most coastlines see the sea rise and fall about twice a day. These tides are caused mainly by the gravity of the Moon, with a smaller contribution from the Sun. The Moon pulls hardest on the side of the Earth facing it and most weakly on the far side. This difference in pull stretches the oceans slightly, creating one bulge of water on the side nearest the Moon and another on the opposite side. As the Earth turns, a given coast passes through both bulges, which is why there are usually two high tides and two low tides in a little more than a day. When the Sun, the Moon, and the Earth line up, at new moon and full moon, their effects add together and produce especially large tides, called spring tides. When the Sun and the Moon pull at right angles, the tides are smaller, and these are called neap tides. Local coastline shapes can make tides much larger or smaller than average.""",
    """Why the sky is blue

Sunlight looks white, but it is a mixture of all the colors of the rainbow. As sunlight passes through the atmosphere, it runs into molecules of nitrogen and oxygen that are far smaller than the wavelength of the light. These molecules scatter light in all directions, and they scatter short wavelengths, toward the blue end of the spectrum, much more strongly than long wavelengths, toward the red end. So wherever you look in the sky, away from the Sun, you see blue light that has been bounced toward you by the air. Violet light is scattered even more, but sunlight contains less of it, and our eyes are less sensitive to it, so the sky looks blue rather than violet. At sunrise and sunset, light travels through much more air to reach us. Most of the blue is scattered away along the path, leaving the oranges and reds.""",
    """What a compiler does

A compiler is a program that translates source code, written in a language people can read, into a form that a machine can run. It usually works in stages. First, a lexer reads the raw text and breaks it into tokens, such as names, numbers, operators, and punctuation. Next, a parser arranges the tokens into a tree that reflects the grammar of the language, so that an expression like a plus b times c is grouped the right way. Then the compiler checks the meaning of the program, for example that every variable is declared and that types are used consistently. After that, it often converts the tree into a simpler intermediate form, which is easier to analyze and improve. Optimization passes remove wasted work, such as calculations whose results are never used. Finally, a code generator produces machine instructions or bytecode. Each stage has a narrow job, which makes the whole process easier to build and to test.""",
    """The electric telegraph

For most of history, a message could travel no faster than a rider, a ship, or a carrier pigeon. The electric telegraph changed that in the nineteenth century. The basic idea was simple: a battery, a long wire, and a switch at one end could make something happen at the other end almost instantly, such as moving a needle or pulling an electromagnet. Several inventors built working systems in the 1830s and 1840s. In the United States, Samuel Morse and his collaborators promoted a system in which an operator tapped a key to send short and long pulses, the dots and dashes of Morse code. Telegraph lines soon followed railways across continents, and after several failed attempts a lasting cable was laid across the Atlantic Ocean in 1866. News, prices, and orders could now cross oceans in minutes instead of weeks, which changed business, journalism, diplomacy, and war.""",
    """How honeybees share directions

When a honeybee forager finds a rich patch of flowers, she can tell her sisters where it is. Back in the dark hive, she performs a waggle dance on the vertical surface of the comb. She runs in a straight line while shaking her body from side to side, then circles back and repeats the run, again and again. The angle of the straight run, measured from straight up, tells the other bees the angle between the direction of the food and the direction of the Sun. The length of the waggle run tells them how far away the food is, with longer runs meaning greater distances. The dancer also carries the scent of the flowers, which helps recruits recognize the right place when they arrive. For flowers very close to the hive, bees use a simpler round dance that signals only that food is nearby. This system lets a colony send its workers quickly to the best sources of nectar and pollen.""",
    """What happens in a sourdough starter

A sourdough starter is a mixture of flour and water that hosts a community of wild yeasts and lactic acid bacteria. These microbes come from the flour, the air, and the baker's hands. When flour and water sit together at room temperature, enzymes break some of the starch in the flour into simple sugars. The yeasts eat these sugars and release carbon dioxide, which forms the bubbles that make bread rise, along with small amounts of alcohol. The bacteria eat sugars too, and they produce lactic acid and acetic acid, which give sourdough its tangy flavor. The acid also makes the starter hostile to many unwanted microbes, so over a week or two of regular feeding, a stable and healthy community takes over. Feeding means discarding part of the starter and adding fresh flour and water, which keeps the microbes supplied with food and keeps the acidity in balance.""",
    """How GPS finds your position

The Global Positioning System relies on a set of satellites orbiting high above the Earth. Each satellite carries a very precise atomic clock, and it continuously broadcasts a signal that says, in effect, who it is, where it is, and exactly what time it was when the signal left. A GPS receiver, such as the one in a phone, listens to several satellites at once. Because radio signals travel at the speed of light, the receiver can work out how far away each satellite is from the small delay between when a signal was sent and when it arrived. Knowing the distance to one satellite places the receiver somewhere on a large sphere. Distances to several satellites narrow this down to a single point. The receiver's own clock is not accurate enough, so it uses a fourth satellite to solve for its clock error as well as its position. The timing must be extremely precise, since an error of one millionth of a second corresponds to about 300 meters.""",
    """The Silk Road

The Silk Road was not a single road but a shifting web of overland and sea routes that connected China with Central Asia, India, Persia, the Middle East, and the Mediterranean world. It took its name from Chinese silk, one of the most prized goods carried west, but the trade included spices, horses, glass, metals, paper, ceramics, and much more. Few merchants traveled the whole distance. Instead, goods usually passed from hand to hand, moving between oasis towns and trading cities such as Samarkand, where markets and caravan inns grew up. Along with goods, the routes carried people, languages, religions, technologies, and, sadly, diseases. Buddhism spread from India into China along these paths, and knowledge of papermaking gradually moved westward. The routes flourished in periods when large empires kept them safe and declined when wars made them dangerous, and over time sea trade took over a growing share of the traffic.""",
    """How a lighthouse lens works

A lighthouse must send its light many kilometers out to sea, which requires gathering as much light as possible into a narrow beam. A single ordinary glass lens big enough to do this would be enormously thick and heavy, and it would crack easily. In the 1820s, the French physicist Augustin Fresnel found a better design. He noticed that a lens bends light only at its surfaces, so most of the glass in the middle of a thick lens does no useful work. His lens is built from a series of concentric rings, each a thin slice of the curved surface it replaces, arranged so that all of them aim light in the same direction. Around these, glass prisms catch light that would otherwise escape upward or downward and bend it back into the beam. The result is a lens that is much lighter and more efficient. Fresnel lenses made lighthouses visible much farther out and are still used today in car headlights and overhead projectors.""",
    """How we hear

Sound is a wave of pressure traveling through the air. When it reaches us, the outer ear funnels it down the ear canal to the eardrum, a thin membrane that vibrates in step with the pressure changes. Three tiny bones in the middle ear, the smallest bones in the body, pass these vibrations along and concentrate their force onto a small window of the inner ear. The inner ear contains the cochlea, a coiled tube filled with fluid. Along its length runs a membrane lined with hair cells. Different parts of the membrane respond best to different pitches, with high pitches near the entrance of the coil and low pitches near its tip. When a region vibrates, its hair cells bend and send electrical signals along the auditory nerve to the brain, which interprets the pattern as speech, music, or noise. Hair cells that are damaged by very loud sounds do not grow back, which is why protecting our hearing matters.""",
    """The long history of zero

Zero seems obvious today, but it took a long time to arrive. Many ancient number systems had no symbol for nothing at all. The Babylonians used a place value system, where the position of a digit changes its value, and eventually they marked empty places with a special sign, although they did not treat it as a number of its own. Mayan astronomers also used a symbol for zero in their calendar calculations. The decisive step came in India, where by the seventh century mathematicians such as Brahmagupta were treating zero as a number with its own rules for addition, subtraction, and multiplication. Indian numerals, including zero, were adopted and extended by scholars writing in Arabic, and from there they reached Europe, helped by books such as one written by Fibonacci in 1202. With a true zero and place value, large numbers became easy to write, and arithmetic that once needed an abacus could be done with pen and paper.""",
    """How glaciers shape the land

A glacier forms where more snow falls each winter than melts each summer. Over many years, the snow piles up and is pressed into dense ice, and when the ice becomes thick enough, it starts to flow slowly downhill under its own weight. As it moves, a glacier acts like a giant file. Rocks frozen into its base scrape and polish the bedrock beneath, leaving long scratches that point in the direction of flow. Glaciers also pluck loose blocks of rock and carry them away. A river usually cuts a narrow valley shaped like the letter V, but a valley glacier grinds out a broad valley shaped like the letter U, with steep sides and a flat floor. When the ice melts, it drops everything it was carrying, leaving ridges of mixed rubble called moraines and scattered boulders far from where they started. Many lakes, fjords, and rolling hills in northern lands are the work of glaciers from the last ice age.""",
    """Why we have leap years

A calendar year of 365 days is slightly shorter than the time it takes the Earth to go once around the Sun, measured from one spring equinox to the next, which is close to 365 and one quarter days. If nothing were done, the calendar would drift by about one day every four years, and after a few centuries the seasons would arrive weeks away from their usual dates. The Julian calendar, introduced under Julius Caesar, added an extra day every fourth year. But the true year is actually about 11 minutes shorter than 365 and one quarter days, so the Julian calendar slowly drifted the other way. The Gregorian calendar, introduced in 1582, fixed this by skipping three leap days every four hundred years. Under its rule, a year divisible by 4 is a leap year, except for years divisible by 100, which are not, unless they are also divisible by 400. That is why 2000 was a leap year, while 1900 was not.""",
    """How soap cleans

Water on its own is poor at removing grease, because oil and water do not mix. Soap solves this with molecules that have two very different ends. One end is attracted to water, and the other end is a long chain that avoids water but mixes well with oils and fats. When you wash your hands, the oily tails of many soap molecules burrow into a spot of grease, while their water-loving heads stay facing outward. The grease ends up trapped inside tiny clusters, called micelles, whose outer surface is covered with heads that are happy in water. Rinsing then carries the micelles, and the grease inside them, away. Scrubbing helps by breaking the grease into smaller pieces and giving the soap more surface to work on. Soap also damages the fatty outer layer that surrounds many viruses and bacteria, which is one reason that washing hands with soap for about twenty seconds is such an effective habit.""",
    """How compost is made

Composting turns kitchen scraps, leaves, and garden waste into a dark, crumbly material that enriches soil. The work is done by living things: bacteria and fungi at first, and later worms, insects, and other small creatures. Microbes need both carbon and nitrogen. Brown materials, such as dry leaves, straw, and cardboard, supply mostly carbon, while green materials, such as vegetable peels, coffee grounds, and fresh grass clippings, supply more nitrogen. A pile with a good mix of the two, kept about as damp as a wrung-out sponge, breaks down fastest. The microbes also need oxygen, so turning the pile every so often keeps it from becoming soggy and smelly. As the microbes feed, they release heat, and the center of an active pile can become hot to the touch, which helps kill many weed seeds. After some weeks or months, depending on the conditions, the original materials are no longer recognizable, and the compost is ready to use.""",
    """How an airplane wing produces lift

An airplane stays in the air because its wings push air downward, and the air pushes the wings upward in return. A wing is shaped and tilted so that, as it moves forward, it turns the oncoming air and sends it toward the ground behind it. The tilt of the wing relative to the oncoming air is called the angle of attack. As the air flows around the curved wing, the pressure on the upper surface becomes lower than the pressure on the lower surface, and this difference in pressure, spread over the whole area of the wing, adds up to the lifting force. The amount of lift grows with the speed of the airplane, the size of the wing, the density of the air, and the angle of attack. If the angle becomes too steep, however, the air can no longer follow the upper surface smoothly. It breaks away, and lift drops sharply. Pilots call this a stall.""",
]

# ---------------------------------------------------------------------------
# Chat: plain-text dialogue, a user question and an assistant answer.
# ---------------------------------------------------------------------------
CHAT: list[str] = [
    """User: How long should I boil an egg if I want the yolk a little soft?
Assistant: For a large egg taken straight from the fridge, lower it gently into water that is already boiling and cook it for about 7 minutes. Then move it into a bowl of cold water for a minute or two to stop the cooking. The white will be set, and the yolk will be soft and jammy in the middle. For a runnier yolk, try 6 minutes, and for a fully firm yolk, try 10 to 11 minutes.""",
    """User: What is the difference between weather and climate?
Assistant: Weather is what the atmosphere is doing at a particular place and time, such as rain this afternoon, a cold wind tonight, or a heat wave this week. Climate is the long-term pattern of weather in a region, usually described by averages and ranges over thirty years or more. A simple way to remember it is that weather tells you what to wear today, while climate tells you what kinds of clothes to keep in your closet. One cold week does not change a region's climate, just as one warm day in winter does not mean summer has arrived.""",
    """User: Can you explain recursion like I'm new to programming?
Assistant: Sure. Recursion is when a function solves a problem by calling itself on a smaller version of the same problem.
Imagine you are standing in a long line and want to know your position. You could ask the person in front of you what their position is, and then add one. They do the same thing, asking the person ahead of them, and so on. The person at the very front knows they are number one without asking anyone. That person is the base case, the point where the questions stop. Then the answers travel back down the line, each person adding one.
Every recursive function needs these two parts:
1. A base case that can be answered directly.
2. A recursive step that moves closer to the base case.
If you forget the base case, the function keeps calling itself until the program runs out of memory for the calls, which in Python shows up as a RecursionError.""",
    """User: Is 2100 a leap year?
Assistant: No. A year divisible by 100 is not a leap year unless it is also divisible by 400. The year 2100 is divisible by 100 but not by 400, so it will have only 365 days. The year 2000, on the other hand, was divisible by 400, so it was a leap year.""",
    """User: I have to write a cover letter for a job at a library. Any tips?
Assistant: Here are a few tips that work for most cover letters, with some ideas specific to libraries.
First, keep it to one page. Three or four short paragraphs are enough.
Second, open by naming the position and saying briefly why you are interested in this particular library, not just any job. If the library runs programs you admire, such as reading clubs for children or classes on using computers, mention one.
Third, in the middle paragraph, pick two or three experiences that match the job posting, and describe what you did and what came of it. For example, instead of saying you are organized, say that you reorganized a shelf system at your last job and helped people find items faster.
Fourth, show that you enjoy helping people. Libraries are public services, and patience and friendliness matter as much as knowing the catalog.
Finally, close by thanking the reader and saying you would welcome the chance to talk. Then read the letter aloud once, because that is the easiest way to catch awkward sentences and typos.""",
    """User: Why does the Moon have phases?
Assistant: The Moon does not make its own light. It shines because sunlight reflects off it, and the Sun always lights up exactly half of the Moon, the half facing the Sun.
As the Moon orbits the Earth, about once every 29 and a half days, we see that lit half from different angles. When the Moon is roughly between the Earth and the Sun, the lit side faces away from us, and we see a new moon, which is almost invisible. As the Moon moves along its orbit, we see more and more of the lit side: first a thin crescent, then a half moon, which is called the first quarter, and then a gibbous moon. When the Moon is on the far side of the Earth from the Sun, we see the whole lit half, a full moon. Then the process runs in reverse.
A common myth is that the phases are caused by the shadow of the Earth. The Earth's shadow only falls on the Moon during a lunar eclipse, which is a much rarer event.""",
    """User: How do I convert 25 degrees Celsius to Fahrenheit?
Assistant: Multiply the Celsius temperature by 9, divide by 5, and then add 32.
25 x 9 = 225
225 / 5 = 45
45 + 32 = 77
So 25 degrees Celsius is 77 degrees Fahrenheit. A quick mental shortcut is to double the Celsius number and add 30, which gives 80 here. The shortcut is close for everyday temperatures, but the exact formula is better when precision matters.""",
    """User: What's a good way to start learning a new language as an adult?
Assistant: A few habits make a big difference.
Practice a little every day. Fifteen minutes daily beats two hours once a week, because memory works best with frequent, spaced review.
Learn the most common words first. A few hundred frequent words cover a large share of everyday conversation, so they give you the most value early on.
Listen a lot, even before you understand much. Podcasts, songs, and shows help your ear get used to the rhythm and sounds of the language.
Speak early, and accept that you will make mistakes. Find a conversation partner, a tutor, or a language exchange, and treat errors as part of the process.
Finally, connect the language to something you enjoy, such as cooking, football, or films. Interest keeps you going when progress feels slow.""",
    """User: What does HTTP status code 404 mean?
Assistant: It means Not Found. The server was reached and understood the request, but it has nothing at the address that was asked for. Common causes are a typo in the link, a page that was moved or deleted, or a broken link on another site.""",
    """User: My houseplant's leaves are turning yellow. What could be wrong?
Assistant: Yellow leaves have several common causes, and the pattern of the yellowing gives clues.
If the lower, older leaves turn yellow one at a time and the soil stays wet for days, overwatering is the most likely cause. Roots sitting in soggy soil cannot get enough air. Let the top few centimeters of soil dry out before watering again, and make sure the pot has a drainage hole.
If the leaves are yellow and crispy at the edges and the soil is bone dry, the plant is probably thirsty. Water it thoroughly until water runs out of the bottom.
If new growth is pale while the veins stay green, the plant may be short of nutrients. A balanced fertilizer during the growing season can help.
If the plant was recently moved, some yellowing is normal as it adjusts to new light.
Finally, a single old leaf turning yellow now and then is simply part of the plant's life cycle and nothing to worry about.""",
    """User: What is the difference between a list and a tuple in Python?
Assistant: Both store an ordered sequence of items, but a list is mutable and a tuple is immutable.
You can add, remove, or change items in a list after creating it:
colors = ["red", "green"]
colors.append("blue")
A tuple cannot be changed once it is created:
point = (3, 4)
Trying to assign point[0] = 5 raises a TypeError.
Because tuples cannot change, they can be used as dictionary keys and stored in sets, while lists cannot. As a rule of thumb, use a list for a collection of similar items that may grow or shrink, and use a tuple for a fixed group of related values, such as the x and y parts of a coordinate.""",
    """User: Why do onions make you cry?
Assistant: When you cut an onion, you break open its cells, and chemicals that were kept apart inside them mix together. One of the products is a gas that drifts up to your eyes. When it reaches the moist surface of the eye, it irritates the nerves there, and your eyes respond by making tears to wash the irritant away.
A few tricks help. Chilling the onion for a while before cutting slows the reaction. A sharp knife crushes fewer cells than a dull one. Cutting near a running fan or an open window carries the gas away from your face.""",
    """User: How much should I tip at a restaurant if the bill is 64 dollars and I want to leave 15 percent?
Assistant: Fifteen percent of 64 dollars is 9.60 dollars. Here is one way to work it out in your head.
Ten percent of 64 is 6.40 dollars.
Five percent is half of that, so 6.40 / 2 = 3.20 dollars.
Add them together: 6.40 + 3.20 = 9.60 dollars.
The total with the tip would be 64 + 9.60 = 73.60 dollars. Many people round up to 74 dollars for convenience.""",
    """User: What is photosynthesis in one sentence?
Assistant: Photosynthesis is the process by which plants use the energy of sunlight to turn water and carbon dioxide into sugar, releasing oxygen as a by-product.""",
    """User: I keep procrastinating on a big report. How can I get started?
Assistant: Big tasks are hard to start because they feel vague and heavy, so the goal is to make the first step small and concrete.
Start by writing down the very next physical action, not the whole project. Instead of "write report," try "open a document and type the section headings." That is easy enough to do right now.
Next, set a timer for 25 minutes and agree with yourself to work only until it rings. Often the hardest part is the first few minutes, and once you are moving, it is easier to keep going.
Remove easy distractions during that time. Put your phone in another room and close unrelated tabs.
Let the first draft be rough. Many people stall because they want each sentence to be perfect. Editing a messy draft is much easier than filling a blank page.
Finally, notice what you finish. Crossing off small steps builds momentum, and momentum is what carries a big report to the end.""",
    """User: Can you check my math? I said 48 x 25 = 1200.
Assistant: Yes, that is correct. One easy way to see it is to notice that 25 is one quarter of 100. So 48 x 25 is the same as 48 x 100 divided by 4. First, 48 x 100 = 4800. Then 4800 / 4 = 1200. Another check is to split 48 into 40 + 8. Then 40 x 25 = 1000 and 8 x 25 = 200, and 1000 + 200 = 1200.""",
    """User: What causes thunder?
Assistant: Thunder is the sound made by lightning. A lightning bolt heats the air along its path extremely quickly, to temperatures several times hotter than the surface of the Sun. The heated air expands violently, creating a shock wave that we hear as a crack or a long rumble.
You see the flash before you hear the thunder because light travels far faster than sound. Sound covers about one kilometer in three seconds, so counting the seconds between the flash and the thunder and dividing by three gives a rough distance to the strike in kilometers.""",
    """User: Hi! Can you recommend a simple dinner I can make with rice, eggs, and some frozen peas?
Assistant: Egg fried rice is a perfect fit, and it works best with rice that was cooked earlier and cooled, because fresh rice tends to turn mushy.
1. Heat a tablespoon of oil in a large pan over medium-high heat.
2. Beat two eggs, pour them in, and stir until just set. Move them to a plate.
3. Add a little more oil, then a handful of frozen peas, and cook for two minutes.
4. Add about two cups of cooked rice. Press and stir it so that it heats through and starts to crisp slightly.
5. Return the eggs, breaking them into small pieces, and season with soy sauce, a pinch of salt, and pepper.
If you have a green onion or some garlic, add them with the peas for extra flavor. The whole dish takes about fifteen minutes.""",
    """User: What does a median mean in statistics?
Assistant: The median is the middle value when the numbers are sorted from smallest to largest. For the numbers 3, 7, 8, 12, and 40, the median is 8, because two values lie below it and two lie above it.
If there is an even number of values, the median is the average of the two middle ones. For 3, 7, 9, and 12, the middle values are 7 and 9, and 7 + 9 = 16, so the median is 16 / 2 = 8.
The median is useful because a few extreme values do not pull it around much. In the first example, the mean is 70 / 5 = 14, which is larger than four of the five numbers, because the single value of 40 drags it upward. The median of 8 describes a typical value better.""",
    """User: Why is the ocean salty but rivers are not?
Assistant: Rivers actually do carry small amounts of salt. As rain falls and flows over land, it slowly dissolves minerals from rocks and soil, and rivers carry these dissolved minerals down to the sea. The water in a river is replaced constantly, so the salt never builds up to a level we can taste.
The ocean is different because it is the end of the line. Water leaves the ocean mainly by evaporation, and evaporation takes away pure water while leaving the salts behind. Over very long periods of time, this has made seawater salty. Undersea volcanic vents add some minerals as well. Today, the ocean's saltiness stays fairly steady, because salt is also removed, for example when it is buried in sediments on the sea floor.""",
]

# ---------------------------------------------------------------------------
# Demo text for `sinkscope scan` (src/sinkscope/data/example.txt).
# ---------------------------------------------------------------------------
EXAMPLE = """Problem: A school is planning a museum trip for 152 students and 8 teachers. Each bus holds 45 people and costs 320 dollars to rent for the day. Museum tickets cost 9 dollars for each student, and teachers get in for free. Lunch costs 6 dollars per person, for students and teachers alike. The school plans to charge each student 25 dollars to cover the whole trip. Will the money collected cover all of the costs? If so, how much will be left over?

Solution:
Step 1. Count the people. There are 152 students and 8 teachers, so 152 + 8 = 160 people will travel.
Step 2. Work out the number of buses. Three buses hold 3 x 45 = 135 people, and 160 - 135 = 25 people would still be left at school. So a fourth bus is needed, and the school must rent 4 buses. Four buses hold 4 x 45 = 180 people, so there will be 180 - 160 = 20 empty seats.
Step 3. Bus cost: 4 x 320 = 1280 dollars.
Step 4. Ticket cost. Only the students pay, so 152 x 9 = 1368 dollars.
Step 5. Lunch cost. Everyone eats, so 160 x 6 = 960 dollars.
Step 6. Add the three costs. First, 1280 + 1368 = 2648. Then 2648 + 960 = 3608 dollars in total.
Step 7. Money collected from the students: 152 x 25 = 3800 dollars.
Step 8. Compare the two amounts: 3800 - 3608 = 192 dollars.
Check the largest multiplications another way. For step 4, 152 x 9 = 152 x 10 - 152, and 1520 - 152 = 1368, which matches. For step 7, 152 x 25 = 152 x 100 / 4 = 3800, which also matches.

Answer: Yes. The trip costs 3608 dollars, the students pay 3800 dollars, and 192 dollars are left over.

Explanation: The key idea in this problem is that different costs depend on different groups of people. The buses and the lunches depend on everyone who travels, but the tickets depend only on the students, so it matters which number goes into each step. The bus step also needs care with rounding. Dividing 160 by 45 gives about 3.56, and a school cannot rent part of a bus, so the answer must be rounded up to 4, even though the last bus will be far from full. Finally, breaking the total into small, labeled steps makes each calculation easy to check, and checking the biggest multiplications a second way is cheap insurance against the most common kind of arithmetic slip.
"""

# ---------------------------------------------------------------------------
# Arithmetic checker (the same rules as tests/test_data.py).
# ---------------------------------------------------------------------------
# A number: optional "$", optional minus, digits with optional thousands
# separators and an optional decimal part.
_NUM = r"\$?-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
# Operators: + - * / and a letter x surrounded by spaces (as in "3 x 4").
_OP = r"(?:[ \t]*[-+*/][ \t]*|[ \t]+x[ \t]+)"
_EXPR = rf"{_NUM}(?:{_OP}{_NUM})*"
CHAIN = re.compile(rf"(?<![\w.,$]){_EXPR}(?:[ \t]*=[ \t]*{_EXPR})+")
_TOKEN = re.compile(rf"({_NUM})|[ \t]*([-+*/]|x)[ \t]*")


def _value(tok: str) -> Fraction:
    return Fraction(tok.replace("$", "").replace(",", ""))


def evaluate(expr: str) -> Fraction:
    """Evaluate numbers joined by + - * / x with the usual precedence."""
    nums: list[Fraction] = []
    ops: list[str] = []
    pos = 0
    expect_num = True
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(f"cannot parse {expr!r} at {pos}")
        if expect_num and m.group(1) is not None:
            nums.append(_value(m.group(1)))
            expect_num = False
        elif not expect_num and m.group(2) is not None:
            ops.append("*" if m.group(2) == "x" else m.group(2))
            expect_num = True
        else:
            raise ValueError(f"cannot parse {expr!r} at {pos}")
        pos = m.end()
    # First pass: * and /.
    terms = [nums[0]]
    add_ops: list[str] = []
    for op, n in zip(ops, nums[1:]):
        if op == "*":
            terms[-1] *= n
        elif op == "/":
            terms[-1] /= n
        else:
            add_ops.append(op)
            terms.append(n)
    total = terms[0]
    for op, t in zip(add_ops, terms[1:]):
        total = total + t if op == "+" else total - t
    return total


def arithmetic_chains(text: str):
    """Yield (chain_text, [side values]) for each checkable chain in text.

    A chain is like "12 x 24 = 288" or "1/6 + 2/6 = 3/6". Chains that sit
    inside a larger expression (next to brackets, powers, letters, percent
    signs or other operators) are skipped because they cannot be read alone.
    """
    for m in CHAIN.finditer(text):
        chain = m.group(0)
        before = text[: m.start()].rstrip(" \t")
        after_raw = text[m.end() :]
        after = after_raw.lstrip(" \t")
        if before and (before[-1] in "+-*/^()[]" or re.search(r"[\d)\]][ \t]+x$", before)):
            continue
        if after_raw[:1] and (after_raw[:1].isalnum() or after_raw[:1] in "%([^"):
            continue
        if (after[:1] and after[:1] in "+-*/^(") or re.match(r"x[ \t]+\d", after):
            continue
        sides = re.split(r"[ \t]*=[ \t]*", chain)
        if not any(re.search(_OP, s) for s in sides):
            continue  # no operator at all, e.g. "x = 5" style labels
        yield chain, [evaluate(s) for s in sides]


def check_text(text: str) -> tuple[int, list[str]]:
    checked, errors = 0, []
    for chain, values in arithmetic_chains(text):
        checked += 1
        if any(v != values[0] for v in values):
            errors.append(chain)
    return checked, errors


# ---------------------------------------------------------------------------
# Output.
# ---------------------------------------------------------------------------
def build_records() -> list[dict]:
    records = []
    for prefix, category, texts in (
        ("math", "math", MATH),
        ("code", "code", CODE),
        ("prose", "prose", PROSE),
        ("chat", "chat", CHAT),
    ):
        for i, text in enumerate(texts, start=1):
            records.append({"id": f"{prefix}-{i:03d}", "category": category, "text": text.strip()})
    return records


LICENSE_TEMPLATE = """# Bundled prompt data

The texts in this directory (`prompts.jsonl` and `example.txt`) were written
from scratch for sinkscope by the project's contributors. They are not copied
or adapted from any dataset, book or website.

They are released under the **Apache License, Version 2.0**, the same licence
as the rest of sinkscope (see `LICENSE` at the repository root).

`prompts.jsonl` is generated by `scripts/make_prompts.py`, which is the source
of truth for these texts and also checks the arithmetic in them.

## Contents

`prompts.jsonl`: {total} prompts, one JSON object per line with the keys
`id`, `category` and `text`.

| category | count | what it holds |
|----------|------:|---------------|
| math     | {math} | word problems with worked step-by-step solutions |
| code     | {code} | short task statements with commented Python, JavaScript, SQL or shell solutions |
| prose    | {prose} | expository paragraphs on science, history and how things work |
| chat     | {chat} | plain-text dialogues ("User: ..." / "Assistant: ...") |

`example.txt`: one math word problem with a worked solution and a short
explanation ({example_words} words), used as the default input of `sinkscope scan`.

Total: {words} words in `prompts.jsonl`.
"""


def main() -> int:
    records = build_records()
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "duplicate ids"

    problems = []
    n_checked = 0
    for r in records:
        if r["category"] == "code":
            continue
        checked, errors = check_text(r["text"])
        n_checked += checked
        problems += [f"{r['id']}: {e}" for e in errors]
    checked, errors = check_text(EXAMPLE)
    n_checked += checked
    problems += [f"example.txt: {e}" for e in errors]
    if problems:
        print("Arithmetic errors:", *problems, sep="\n  ")
        return 1

    DATA.mkdir(parents=True, exist_ok=True)
    with open(DATA / "prompts.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    (DATA / "example.txt").write_text(EXAMPLE, encoding="utf-8")

    counts = {c: sum(r["category"] == c for r in records) for c in ("math", "code", "prose", "chat")}
    words = sum(len(r["text"].split()) for r in records)
    (DATA / "LICENSE-DATA.md").write_text(
        LICENSE_TEMPLATE.format(
            total=len(records), words=words, example_words=len(EXAMPLE.split()), **counts
        ),
        encoding="utf-8",
    )
    print(
        f"wrote {len(records)} prompts ({words} words), {counts}; "
        f"{n_checked} arithmetic chains checked; example.txt {len(EXAMPLE.split())} words"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

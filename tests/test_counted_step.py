"""pipelines.common's counted step: the balance holds by construction, and a decision that raises removes its
element with a dead letter instead of failing the job."""
from __future__ import annotations

from typing import Optional

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.common import LOCAL_RUNNER, CountedStep, Removed, apply_step, counters


class Halve(CountedStep):
    """Keeps even numbers halved, removes odd ones; 13 makes the decision itself fail."""

    kind = "number"

    def __init__(self):
        super().__init__("test", "halve")

    def apply(self, number: int):
        if number == 13:
            raise ZeroDivisionError("unlucky")
        if number % 2:
            return Removed("odd")
        self.side("seen", number)
        return number // 2

    def origin_of(self, element) -> str:
        return f"number {element}"


class Small(CountedStep):
    def __init__(self):
        super().__init__("test", "small")

    def judge(self, number: int) -> Optional[str]:
        return "too_big" if number > 10 else None


def test_balance_side_outputs_and_errors_as_dead_letters():
    letters: list = []
    pipeline = TestPipeline(runner=LOCAL_RUNNER)
    numbers = pipeline | beam.Create(list(range(30)))
    halved = apply_step(numbers, "Halve", Halve(), "seen", dead_letters=letters)
    small = apply_step(halved.main, "Small", Small(), dead_letters=letters)
    assert_that(small, equal_to([n // 2 for n in range(0, 22, 2)]), label="kept")
    assert_that(halved.seen, equal_to(list(range(0, 30, 2))), label="seen")
    assert_that(letters[0], equal_to([{"job": "test", "kind": "number", "origin": "number 13",
                                       "reason": "halve failed: ZeroDivisionError: unlucky"}]), label="dead")
    assert_that(letters[1], equal_to([]), label="none")
    result = pipeline.run()
    result.wait_until_finish()
    counts = counters(result, "test")
    assert counts["halve.in"] == 30 and counts["halve.out"] == 15
    assert counts["halve.removed.odd"] == 14 and counts["halve.removed.error"] == 1
    assert counts["small.in"] == counts["small.out"] + counts["small.removed.too_big"] == 15

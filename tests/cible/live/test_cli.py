"""`cible live worker --queues`: shares count from 0, and a setting that would leave queues to
nobody (or give a worker none) is one clear line and exit code 2, before anything starts."""

from __future__ import annotations

import pytest

from cible.live.cli import main
from cible.live.worker import parse_queues


def test_shares_of_the_queues_count_from_zero_and_cover_every_queue():
    assert parse_queues("0/2", 4) == [0, 2]
    assert parse_queues("1/2", 4) == [1, 3]
    assert sorted(q for s in range(3) for q in parse_queues(f"{s}/3", 8)) == list(range(8))
    assert parse_queues("all", 3) == [0, 1, 2]
    assert parse_queues("0,2", 4) == [0, 2]


@pytest.mark.parametrize("text", ["2/2", "-1/2", "a/b", "1/0", "", "0,x", "9999", "8/9"])
def test_a_worker_given_no_queue_or_a_wrong_share_stops_with_one_line(text, capsys):
    with pytest.raises(ValueError, match="queue"):
        parse_queues(text, 8)
    assert main(["worker", f"--queues={text}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cible live worker: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

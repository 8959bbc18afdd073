"""`scalelab up --config X` on an existing cluster of another shape says so instead of reusing it."""

from __future__ import annotations

import pytest

from scalelab.cluster.base import Provider
from scalelab.errors import ScaleLabError


class Existing(Provider):
    """A provider whose cluster exists with ``have`` nodes (plain data: nothing is started)."""

    name = "kind"

    def __init__(self, have: int | None, want: int, config: str | None) -> None:
        super().__init__("scalelab", config)
        self.have, self.want = have, want

    def exists(self) -> bool:
        return True

    def running(self) -> bool:
        return True

    def existing_nodes(self) -> int | None:
        return self.have

    def expected_nodes(self) -> int:
        return self.want

    create = start = delete = prepare = lambda *a, **k: None  # never reached in these tests


def test_asking_for_another_shape_names_the_recreate_command():
    with pytest.raises(ScaleLabError) as err:
        Existing(have=1, want=4, config="fleet").check_config_matches()
    assert "1 node(s)" in err.value.problem and "describes 4" in err.value.problem
    assert "scalelab down && scalelab up --config fleet" in err.value.fix
    assert "without --config" in err.value.fix


def test_the_same_shape_or_no_config_reuses_the_cluster():
    Existing(have=4, want=4, config="fleet").check_config_matches()
    Existing(have=1, want=4, config=None).check_config_matches()  # plain `scalelab up`: whatever runs is kept
    Existing(have=None, want=4, config="fleet").check_config_matches()  # a stopped kwok cluster: cannot tell, start it

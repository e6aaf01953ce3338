"""``validate(on_level=)`` is checked before anything starts (no system, no traffic)."""

from __future__ import annotations

import pytest

from loadtest.validate import validate


@pytest.mark.parametrize("hook", ["print", 3, [print]])
def test_a_hook_that_cannot_be_called_is_refused_at_once(hook):
    with pytest.raises(ValueError, match="on_level must be callable"):
        validate("topologies/web_service.yaml", [0.5], "5s", on_level=hook, out=None)

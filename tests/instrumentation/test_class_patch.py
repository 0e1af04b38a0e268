"""Our plain-function patches: put on, recognised, and taken off only while outermost."""

from __future__ import annotations

import pytest
import wrapt

from chatspan.instrumentation import class_patch


def _classes():
    class Plain:
        def step(self):
            return "sdk"

    class WithClassmethod:
        @classmethod
        def step(cls):
            return "sdk"

    return Plain, WithClassmethod


@pytest.mark.parametrize("kind", [0, 1], ids=["function", "classmethod"])
def test_installed_then_uninstalled_restores_the_very_attribute(kind):
    owner = _classes()[kind]
    original = owner.__dict__["step"]
    assert not class_patch.is_ours(original)
    ours = classmethod(lambda cls: "ours") if kind else (lambda self: "ours")
    class_patch.install(owner, "step", ours, original)
    assert class_patch.is_ours(owner.__dict__["step"])
    assert (owner.step() if kind else owner().step()) == "ours"
    class_patch.uninstall(owner, "step")
    assert owner.__dict__["step"] is original


def test_a_wrapt_wrapper_over_ours_is_not_taken_for_ours_and_stays():
    owner = _classes()[0]
    original = owner.__dict__["step"]
    class_patch.install(owner, "step", lambda self: "ours", original)
    wrapt.wrap_function_wrapper(owner, "step", lambda wrapped, instance, args, kwargs: wrapped())
    theirs = owner.__dict__["step"]
    assert not class_patch.is_ours(theirs)  # though it hands the marker lookup on to ours
    class_patch.uninstall(owner, "step")
    assert owner.__dict__["step"] is theirs
    assert owner().step() == "ours"


def test_uninstalling_what_was_never_installed_changes_nothing():
    owner = _classes()[1]
    original = owner.__dict__["step"]
    class_patch.uninstall(owner, "step")
    class_patch.uninstall(owner, "missing")
    assert owner.__dict__["step"] is original

"""The garbage collector's settings during a search are restored after it, nested or not, and a process's
own frozen objects stay frozen."""

from __future__ import annotations

import gc

import pytest

from hwgpt.search.collector import YOUNG_COLLECTION, search_collections


@pytest.fixture(autouse=True)
def _restore_gc():  # noqa: ANN202
    old, count = gc.get_threshold(), gc.get_freeze_count()
    yield
    gc.set_threshold(*old)
    if gc.get_freeze_count() and not count:
        gc.unfreeze()


def test_search_collections_freezes_the_heap_and_restores_everything() -> None:
    gc.set_threshold(700, 10, 10)
    assert gc.get_freeze_count() == 0
    with search_collections():
        assert gc.get_threshold() == (YOUNG_COLLECTION, 10, 10) and gc.get_freeze_count() > 0
        with search_collections():  # nested: the outer freeze stays
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == YOUNG_COLLECTION
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0
    with pytest.raises(KeyboardInterrupt), search_collections():
        raise KeyboardInterrupt
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0


def test_a_process_that_froze_objects_keeps_them_frozen() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    with search_collections():
        pass
    assert gc.get_freeze_count() == frozen
    gc.unfreeze()

"""``MemoryOnSave``: what ranks > 0 of a torchrun job use instead of writing files."""

from kedro.io import MemoryDataset

from deepvision.io.memory import MemoryOnSave


def test_loads_the_wrapped_data_until_a_save_then_keeps_the_save_in_memory():
    inner = MemoryDataset([1, 2])
    dataset = MemoryOnSave(inner)
    assert dataset.load() == [1, 2]
    dataset.save([3])
    assert dataset.load() == [3] and inner.load() == [1, 2]

"""DataModules that training adds on top of :mod:`hwgpt.data` (``conf/data/*.yaml``)."""

from __future__ import annotations

from pathlib import Path

from hwgpt.data.corpus import default_data_root
from hwgpt.data.datamodule import TokenDataModule


class OpenWebTextDataModule(TokenDataModule):
    """OpenWebText tokenized with GPT-2 BPE, prepared on first use (rank 0, ``prepare_data``).

    Args:
        data_root: Data root (default: :func:`hwgpt.data.default_data_root`).
        num_proc: Processes for downloading and tokenizing.
        block_size, batch_size, num_workers, seed, val_tokens: As :class:`TokenDataModule`.
    """

    def __init__(
        self, data_root: Path | str | None = None, num_proc: int = 8, block_size: int = 1024,
        batch_size: int = 8, num_workers: int = 0, seed: int = 0, val_tokens: int = 1048576,
    ) -> None:
        root = Path(data_root) if data_root is not None else default_data_root()
        super().__init__(root / "openwebtext-gpt2", "gpt2", block_size, batch_size, num_workers, seed,
                         val_tokens, data_root=root)
        self.num_proc = num_proc

    def prepare_data(self) -> None:
        """Download and tokenize once; offline, fails at once with what to do."""
        from hwgpt.data.openwebtext import prepare_openwebtext

        prepare_openwebtext(self.data_root, num_proc=self.num_proc)

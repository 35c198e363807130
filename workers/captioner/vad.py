"""Streaming voice activity detection with the Silero VAD model faster-whisper ships.

faster-whisper runs Silero over a whole file at once; a live captioner needs it
frame by frame. ``StreamingVad`` keeps the model's recurrent state and the 64-sample
context between calls, so audio can arrive in chunks of any size: it returns one
speech probability per 512-sample (32 ms) frame completed by the chunk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FRAME = 512
CONTEXT = 64


def _model_path() -> Path:
    from faster_whisper.utils import get_assets_path

    return Path(get_assets_path()) / "silero_vad_v6.onnx"


class StreamingVad:
    """Silero VAD over a live stream of 16 kHz mono float32 audio."""

    def __init__(self) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(_model_path()), providers=["CPUExecutionProvider"], sess_options=opts
        )
        self.reset()

    def reset(self) -> None:
        """Forget the state (a new, unrelated stream begins)."""
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._rest = np.zeros(0, dtype=np.float32)

    def __call__(self, audio: np.ndarray) -> list[float]:
        """Speech probabilities of the frames that ``audio`` completes."""
        samples = np.concatenate([self._rest, audio.astype(np.float32, copy=False)])
        n = len(samples) // FRAME
        self._rest = samples[n * FRAME :]
        if n == 0:
            return []
        frames = samples[: n * FRAME].reshape(n, FRAME)
        contexts = np.empty((n, CONTEXT), dtype=np.float32)
        contexts[0] = self._context
        contexts[1:] = frames[:-1, -CONTEXT:]
        self._context = frames[-1, -CONTEXT:].copy()
        batch = np.concatenate([contexts, frames], axis=1)
        probs, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        return [float(p) for p in np.asarray(probs).reshape(-1)]

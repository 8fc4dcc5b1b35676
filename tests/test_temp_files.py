"""A run leaves nothing in the temporary folder: TensorFlow's AutoGraph files are removed by the
runner's fast exit (os._exit skips the atexit handlers that would remove them)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CODE = """
import sys
import tensorflow as tf
from pipelines.local.runner import exit_now

@tf.function
def absolute(x):
    if x > 0:  # Python control flow: AutoGraph converts it and writes the converted source
        return x
    return -x

absolute(tf.constant(-2.0))
print([m.__file__ for n, m in sys.modules.items() if n.startswith("__autograph_generated_file")])
exit_now(0)
"""


def test_the_fast_exit_removes_autographs_temporary_files(tmp_path):
    script, temp = tmp_path / "child.py", tmp_path / "tmp"  # a file: AutoGraph reads the function's source
    script.write_text(CODE)
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp), TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, str(script)], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    written = ast.literal_eval(result.stdout.strip().splitlines()[-1])  # the list the child printed
    assert written and all(path.startswith(str(temp)) for path in written), written
    assert not [p.name for p in temp.iterdir() if p.name.startswith("__autograph_generated_file")]

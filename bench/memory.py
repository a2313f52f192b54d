"""6. Memory: resident set of the app with the starter model loaded vs a bare llama-cpp-python process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from bench.common import Figure, Section, median, starter_model

RSS = """
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

BARE = (
    RSS
    + """
import sys
from llama_cpp import Llama
llama = Llama(model_path=sys.argv[1], n_ctx=4096, verbose=False)
list(llama.create_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=16, stream=True))
print(rss_mb())
"""
)

APP = (
    RSS
    + """
import sys
from PySide6.QtCore import QEventLoop
from app.core.paths import resolve_paths
from app.core.settings import Settings
from app.ui.app import create_application
from app.ui.main_window import MainWindow
app = create_application(sys.argv[:1])
window = MainWindow(resolve_paths(sys.argv[2]).ensure(), Settings(context_size=4096))
window.persona.max_tokens.setValue(16)
window.show()
loop = QEventLoop()
window.model_ready.connect(lambda _m: (window.input.setPlainText("Hi"), window.chat.send()))
window.reply_finished.connect(loop.quit)
window.model_bar.load_model(sys.argv[1])
loop.exec()
print(rss_mb())
window.close()
"""
)


def _rss(code: str, *args: str) -> float:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> Section:
    model = str(starter_model())
    rounds = 1 if quick else 3
    bare, app = [], []
    with tempfile.TemporaryDirectory() as basedir:
        for _ in range(rounds):
            bare.append(_rss(BARE, model))
            app.append(_rss(APP, model, basedir))
    overhead = median(app) - median(bare)
    return Section(
        title="6. Memory with the starter model loaded (4,096-token context, after one reply)",
        command="python -m bench memory",
        figures=[
            Figure("bare python + llama-cpp-python", median(bare), "MB"),
            Figure("Hermes Studio (window, engine thread, model)", median(app), "MB"),
            Figure("overhead", overhead, "MB", "< 150 MB", overhead < 150),
        ],
        notes=f"Resident set (VmRSS) at the end of each fresh process; median of {rounds}.",
    )

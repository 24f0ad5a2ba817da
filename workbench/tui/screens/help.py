"""Provides the help screen: the keys of every screen and the workbench's ideas in a few lines."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# Prompt Workbench

Edit a prompt, run it on its test set, read the failures, fix the prompt, run again. Every distinct
template is a **version**; every run is kept, so versions can be compared case by case.

| where | key | does |
|---|---|---|
| everywhere | `ctrl+p` | command palette (open a prompt, every action) |
| everywhere | `f1` / `?` | this help |
| everywhere | `ctrl+q` | quit (unsaved changes ask first) |
| tables | `j` / `k`, `G`, `home` / `end` | down, up, last row, first / last |
| prompts | `enter` | open the prompt |
| prompts | `h` | its history |
| editor | `tab` | indent (it is a code editor) |
| editor | `escape` | leave the editor (to the results) |
| editor | `ctrl+g`, `ctrl+end` | go to line, end of file |
| workspace | `ctrl+s` | save (records a version when the file parses) |
| workspace | `ctrl+r` | save and run on the chosen split and model |
| workspace | `R` | save and run only the failing cases (on a new version: those that failed before) |
| workspace | `r` | save and run only the selected case (asked again if it has an answer) |
| workspace | `escape` / `ctrl+c` | cancel the run (finished cases are kept) |
| workspace | `e` | back to the editor |
| workspace | `1` / `2` / `3` | results, preview, detail |
| workspace | `m` / `s` | pick the model / the split |
| workspace | `/` | filter the results (e.g. `fail`); `escape` clears it |
| workspace | `enter` | the case's detail; `escape` back to the results |
| workspace | `g` / `b` / `c` | on a result or its detail: good, bad, write a correction |
| workspace | `n` | next failure |
| workspace | `f2` | history |
| workspace | `f3` | export a fine-tuning dataset from the picked model's runs (`ctrl+s` writes it) |
| workspace | `f4` | search prompts within a budget (also in the palette: Search prompts) |
| workspace | `f5` | generate more inputs for the test set with a model (also in the palette) |
| workspace | `f8` / `f9` | provider batch: save and submit; check it (collects once ended); cancel: palette |
| search | `ctrl+r`, `escape`, `ctrl+s` | start; cancel (what was scored is kept) or close; apply the winner |
| generate | `ctrl+r`, `ctrl+s`, `escape` | preview (writes nothing); append the cases; cancel or close |
| history | `space`, `c` | mark two versions, compare them |
| history | `d` | the decision: the best prompt against the tuned models on the held-out split |
| compare | `enter` | a flipped case: both outputs and the expected answer |
| any view | `escape` | back |

**Plateau**: when the last versions stop beating the best earlier one by a real margin, the history
view says so, with how many training examples you have: time to export and fine-tune.
"""


class HelpScreen(ModalScreen[None]):
    """Keys and concepts."""

    BINDINGS = [Binding("escape,f1,question_mark,q", "app.pop_screen", "Close", id="close-help")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Markdown(HELP)

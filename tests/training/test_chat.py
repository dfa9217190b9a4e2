"""`training chat` through a pseudo-terminal, its streaming decoder, and the one-shot `--prompt` mode."""

from __future__ import annotations

import codecs
import fcntl
import json
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

from typer.testing import CliRunner

from dataprep.tokenizer.model import load_tokenizer
from dataprep.tokenizer.template import ChatIds, generation_prompt
from training.chat import Chat, ChatOptions, StreamDecoder, interactive
from training.checkpoint import load_model
from training.cli import app
from training.generate import Sampling, generate

ROOT = Path(__file__).resolve().parents[2]
CHINESE = "好的！你好，世界。这是中文回答。"


def env() -> dict:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), out.get("PYTHONPATH", "")] if p)
    out["OMP_NUM_THREADS"] = "1"
    return out


def test_stream_decoder_holds_back_split_characters(corpus):
    tok = load_tokenizer(corpus["tokenizer"])
    text = "Sure. " + CHINESE + " Done, thanks!"
    ids = tok.sp.encode(text)
    assert sum(tok.sp.is_byte(i) for i in ids) >= 3 * len("你好世界")  # characters split over byte pieces
    decoder = StreamDecoder(tok.sp)
    pieces = [decoder.push(i) for i in ids] + [decoder.flush()]
    assert "".join(pieces) == tok.sp.decode(ids) == text
    assert not any("\ufffd" in p for p in pieces)
    naive = [tok.sp.decode([i]) for i in ids]
    assert any("\ufffd" in p for p in naive)  # what decoding token by token would have printed
    # A character cut short at the end of an answer is dropped, never printed as a replacement character.
    decoder = StreamDecoder(tok.sp)
    cut = tok.sp.encode("你")[:-1]
    assert "".join(decoder.push(i) for i in cut) + decoder.flush() == ""


class Terminal:
    """A child process on a pseudo-terminal that is its controlling terminal: \\x03 is a real Ctrl+C."""

    def __init__(self, cmd: list[str]):
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(
            cmd, stdin=slave, stdout=slave, stderr=slave, env=env(), start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.seen = ""
        self.utf8 = codecs.getincrementaldecoder("utf-8")()  # a read may end inside a character

    def expect(self, text: str, timeout: float = 60.0) -> str:
        """Read until `text` appears; return everything read up to and including it."""
        deadline = time.time() + timeout
        while text not in self.seen:
            left = deadline - time.time()
            assert left > 0, f"timed out waiting for {text!r}; got:\n{self.seen[-2000:]}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                assert data, f"the process ended waiting for {text!r}; got:\n{self.seen[-2000:]}"
                self.seen += self.utf8.decode(data)
        upto = self.seen.index(text) + len(text)
        out, self.seen = self.seen[:upto], self.seen[upto:]
        return out

    def wait_reading(self, timeout: float = 60.0) -> None:
        """Until the child sleeps (its only wait at a prompt: readline's select on the terminal). A Ctrl+C that lands
        while readline is still processing what came before (echoing it, drawing the prompt) is only noted by
        Python's handler, and readline's select then waits for the next key: the session would hang there."""
        deadline = time.time() + timeout
        while Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "S":
            assert time.time() < deadline, "the child never went back to reading the terminal"
            time.sleep(0.005)

    def send(self, data: str) -> None:
        os.write(self.master, data.encode())

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            os.close(self.master)


def test_chat_in_a_terminal_keeps_context_clears_stops_and_streams_chinese(tmp_path, corpus):
    tok = load_tokenizer(corpus["tokenizer"])
    sp = tok.sp
    first, long_answer, chinese, after_clear = (
        "Hello there.", " ".join(["word"] * 300), "OK " + CHINESE, "Cleared and ready.")
    script = {"answers": [sp.encode(a) for a in (first, long_answer, chinese, after_clear)], "delay": 0.02,
              "context": 2048}
    (tmp_path / "script.json").write_text(json.dumps(script))
    log = tmp_path / "fed.jsonl"
    term = Terminal([sys.executable, str(ROOT / "tests/training/scripted_chat.py"), corpus["tokenizer"],
                     str(tmp_path / "script.json"), str(log)])
    try:
        term.expect("you> ")
        term.send("What is a tokenizer?\n")
        assert "assistant> Hello there.\r\n" in term.expect("you> ")
        term.send("Tell me more\n")
        term.expect("word word word")  # streaming: the answer is under way
        term.send("\x03")  # Ctrl+C during the answer
        stopped = term.expect("you> ")
        assert "[stopped]" in stopped
        term.send("In Chinese please\n")
        streamed = term.expect("you> ")
        assert CHINESE in streamed and "\ufffd" not in streamed
        term.send("/clear\n")
        assert "[conversation cleared]" in term.expect("you> ")
        term.send("Fresh start\n")
        assert after_clear in term.expect("you> ")
        term.send("half-typed line")
        term.expect("half-typed line")  # echoed: readline holds it
        term.wait_reading()
        term.send("\x03")  # Ctrl+C on a typed line discards it, the session stays
        term.expect("you> ")
        term.wait_reading()
        term.send("\x03")  # Ctrl+C at an empty prompt ends the session
        code = term.close()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
            term.proc.wait()
    assert code == 0

    fed = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(fed) == 4
    ids = ChatIds.of(tok)

    def prompt(messages):
        return generation_prompt(messages, sp.encode, ids)

    turn1 = [{"role": "user", "content": "What is a tokenizer?"}]
    assert fed[0] == prompt(turn1)
    turn2 = turn1 + [{"role": "assistant", "content": first}, {"role": "user", "content": "Tell me more"}]
    assert fed[1] == prompt(turn2)  # the second prompt carries the first turn
    assert fed[1][: len(fed[0])] == fed[0]
    assert fed[2][: len(fed[1])] == fed[1]
    partial = sp.decode(fed[2][len(fed[1]) : fed[2].index(ids.end, len(fed[1]))])
    assert partial.startswith("word") and 0 < len(partial.split()) < 300  # the stopped answer stays, cut short
    assert fed[3] == prompt([{"role": "user", "content": "Fresh start"}])  # /clear emptied the context


def test_commands_trimming_and_exits_in_process(corpus, capsys, monkeypatch):
    """/system, /regen, context trimming with a notice; Ctrl+D and /exit end with 0."""
    tok = load_tokenizer(corpus["tokenizer"])
    sys.path.insert(0, str(ROOT / "tests/training"))
    from scripted_chat import ScriptedModel

    answers = [tok.sp.encode(f"answer number {i}") for i in range(8)]
    model = ScriptedModel(answers, tok.vocab_size, 40, Path(os.devnull), 0.0)
    chat = Chat(model, tok, ChatOptions(sampling=Sampling(temperature=0), max_new_tokens=8))
    chat.answer("hi")
    chat.command("/system Be brief.")
    assert chat.conversation()[0] == {"role": "system", "content": "Be brief."}
    chat.command("/regen")
    assert [m["content"] for m in chat.messages] == ["hi", "answer number 1"]
    chat.answer("a second question")
    chat.answer("a third question that is longer")  # 40 tokens cannot hold it all: the oldest turns go
    assert re.search(r"\[context: dropped the \d+ oldest message\(s\)", capsys.readouterr().err)
    contents = [m["content"] for m in chat.messages]
    assert "hi" not in contents and chat.messages[0]["role"] == "user"
    assert contents[-2:] == ["a third question that is longer", "answer number 3"]
    assert chat.conversation()[0]["role"] == "system"  # the system message is never trimmed
    monkeypatch.setattr("builtins.input", lambda _prompt: "/exit")
    assert interactive(chat, "") == 0

    def eof(_prompt):
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    assert interactive(chat, "") == 0


def test_cli_prompt_prints_only_the_answer_without_ray(init_checkpoint):
    """`training chat --checkpoint C --prompt TEXT`: stdout is exactly the answer; chat, eval and generation
    import no Ray."""
    code = (
        "import sys\n"
        "from training.cli import app\n"
        "try:\n"
        f"    app(['chat', '--checkpoint', {str(init_checkpoint)!r}, '--prompt', 'Say something', "
        "'--temperature', '0', '--max-new-tokens', '12'])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "import training.evaluate, training.generate\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    model, _, _ = load_model(init_checkpoint)
    tok = load_tokenizer(str(Path(init_checkpoint) / "tokenizer.model"))
    ids = ChatIds.of(tok)
    prompt = generation_prompt([{"role": "user", "content": "Say something"}], tok.sp.encode, ids)
    answer = list(generate(model, prompt, 12, Sampling(temperature=0), stop=(ids.end, ids.eos)))
    assert answer  # a random model rarely says <|end|> first
    decoder = StreamDecoder(tok.sp)
    expected = "".join(decoder.push(t) for t in answer) + decoder.flush()
    assert done.stdout == expected + "\n"

    help_text = CliRunner().invoke(app, ["chat", "--help"]).output
    flat = " ".join(help_text.split())  # wrapped help lines joined
    for flag, default in (("--temperature", "0.7"), ("--top-k", "50"), ("--top-p", "0.9"), ("--seed", "0")):
        option = flat[flat.index(flag + " ") :]
        option = option[: option.index(" --", len(flag))]  # up to the next option
        assert re.search(rf"\[default: {re.escape(default)}[;\]]", option), option

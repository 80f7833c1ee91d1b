"""``modelport chat``: one streamed answer, or a conversation at the terminal."""

from __future__ import annotations

import shutil
import sys
import time
import unicodedata
from typing import TYPE_CHECKING

import click

from ..errors import ModelNotFoundError, ModelportError, StreamError
from ..types import ChatChunk, ChatResponse, Message
from . import _context
from ._output import Paint, Style, echo_json, report_error

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .. import ChatOptions
    from ..client import Client

__all__ = ["COMMANDS"]

EXIT_COMMANDS = frozenset({"/exit", "/quit", "/bye"})

HELP = """\
/clear   forget the conversation so far
/exit    leave (also /quit, /bye, or Ctrl-D)
/help    this list
Ctrl-C stops an answer without leaving."""


@click.command()
@click.argument("model")
@click.argument("prompt", required=False)
@click.option("--system", metavar="TEXT", help="A system prompt.")
@click.option(
    "--temperature", type=click.FloatRange(min=0), metavar="T", help="Sampling temperature."
)
@click.option("--max-tokens", type=click.IntRange(min=1), metavar="N", help="Stop after N tokens.")
@click.option(
    "--think/--no-think",
    default=None,
    help="Ask a reasoning model to think first (or not). Default: the model's own.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole ChatResponse as JSON.")
@click.option(
    "--stats", is_flag=True, help="Print tokens, tokens/s and time to first token on stderr."
)
@click.pass_context
def chat(
    ctx: click.Context,
    model: str,
    prompt: str | None,
    system: str | None,
    temperature: float | None,
    max_tokens: int | None,
    think: bool | None,
    as_json: bool,
    stats: bool,
) -> None:
    """Chat with MODEL, streaming the answer as it arrives.

    \b
    The prompt is PROMPT, or what is piped in, or both (the piped text first):
      modelport chat llama3.2 "Why is the sky blue?"
      git diff | modelport chat qwen3 "Write a commit message for this"
    With neither, in a terminal, it is a conversation: the history is kept, the
    line can be edited, /exit or Ctrl-D leaves, Ctrl-C stops the current answer.

    Thinking is shown dimmed before the answer (on stderr when stdout is piped).
    """
    state = ctx.find_object(_context.State)
    assert state is not None
    options: ChatOptions = {}
    if temperature is not None:
        options["temperature"] = temperature
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    if think is not None:
        options["think"] = think

    interactive = _context.stdin_is_tty()
    piped = None if interactive else sys.stdin.read()
    text = _prompt_text(piped, prompt)
    if text is None:
        if not interactive:
            raise click.UsageError(
                "No prompt: give one after the model name, pipe text in, or run "
                "without one in a terminal for a conversation."
            )
        if as_json:
            raise click.UsageError("--json needs a prompt (it prints one ChatResponse).")
        _conversation(state, model, system, options, stats)
        return

    if system is not None:
        options["system"] = system
    client = state.client
    if as_json:
        with client.chat_stream(model, text, **options) as stream:
            echo_json(stream.get_response())
        return
    response, elapsed = _stream_answer(client, model, text, options, _Printer())
    _note_cut_off(response)
    if stats:
        _print_stats(response, elapsed)


def _prompt_text(piped: str | None, prompt: str | None) -> str | None:
    """The prompt: piped text, then the argument, separated by a blank line."""
    piped = piped.rstrip("\n") if piped is not None else None
    if piped is not None and not piped.strip():
        piped = None
    if prompt is not None and not prompt.strip():
        prompt = None
    if piped is not None and prompt is not None:
        return f"{piped}\n\n{prompt}"
    return piped if piped is not None else prompt


class WordWrap:
    r"""Wraps streamed text at word boundaries for a terminal of ``width`` columns.

    A word is held back until the space after it arrives (so it is never split
    across lines); wide characters (CJK) count as two columns and are words of their
    own, so text without spaces still streams.

    >>> w = WordWrap(12)
    >>> w.feed("The quick br") + w.feed("own fox jumps") + w.finish()
    'The quick\nbrown fox\njumps'
    >>> w = WordWrap(12); w.feed("short\nlines stay") + w.finish()
    'short\nlines stay'
    >>> w = WordWrap(6); w.feed("有一个很长的句子") + w.finish()
    '有一个\n很长的\n句子'
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.column = 0
        self.word = ""
        self.word_width = 0
        self.spaces = ""

    def feed(self, text: str) -> str:
        out: list[str] = []
        for ch in text:
            if ch == "\n":
                out.append(self._flush())
                out.append("\n")
                self.column = 0
                self.spaces = ""
            elif ch in " \t":
                out.append(self._flush())
                if self.column == 0:  # indentation is kept as it is
                    out.append(ch)
                    self.column += 1
                else:
                    self.spaces += ch
            elif unicodedata.east_asian_width(ch) in "WF":
                out.append(self._flush())
                self.word, self.word_width = ch, 2
                out.append(self._flush())
            else:
                self.word += ch
                self.word_width += 1
        return "".join(out)

    def finish(self) -> str:
        """The word held back, if any."""
        return self._flush()

    def discard(self) -> None:
        """Forget the word held back."""
        self.word, self.word_width, self.spaces = "", 0, ""

    def _flush(self) -> str:
        word, width, spaces = self.word, self.word_width, self.spaces
        if not word:
            return ""
        self.word, self.word_width, self.spaces = "", 0, ""
        if self.column > 0 and self.column + len(spaces) + width > self.width:
            self.column = width
            return "\n" + word
        self.column += len(spaces) + width
        return spaces + word


class _Printer:
    """Writes a streamed answer: thinking dimmed and apart, the text as it comes.

    On a terminal both go to stdout, wrapped at word boundaries; through a pipe the
    answer is written exactly as received and the thinking goes to stderr.
    """

    def __init__(self) -> None:
        self.terminal = _context.stdout_is_terminal()
        self.out = Paint.stdout()
        self.err = Paint.stderr()
        self.text = ""
        self.thinking = ""
        self._mode = ""
        self._open = {"out": False, "err": False}
        width = max(20, shutil.get_terminal_size().columns)
        self._wrap = WordWrap(width) if self.terminal else None

    def _write(self, where: str, raw: str, **style: Unpack[Style]) -> None:
        if where == "out" and self._wrap is not None:
            raw = self._wrap.feed(raw)
        if not raw:
            return
        paint = self.out if where == "out" else self.err
        click.echo(paint(raw, **style) if style else raw, nl=False, err=where == "err", color=True)
        self._open[where] = not raw.endswith("\n")

    def chunk(self, chunk: ChatChunk) -> None:
        if chunk.thinking:
            where = "out" if self.terminal else "err"
            piece = chunk.thinking.lstrip("\n") if not self.thinking else chunk.thinking
            self.thinking += chunk.thinking
            self._mode = "thinking"
            self._write(where, piece, dim=True, italic=True)
        if chunk.text:
            piece = chunk.text
            if self._mode == "thinking":
                if self.terminal:
                    self._end_word(dim=True, italic=True)
                    self._write("out", "\n\n")
                elif self._open["err"]:
                    self._write("err", "\n")
            if self.terminal and not self.text:
                piece = piece.lstrip("\n")
            self._mode = "text"
            self.text += chunk.text
            self._write("out", piece)

    def _end_word(self, **style: Unpack[Style]) -> None:
        if self._wrap is not None:
            rest = self._wrap.finish()
            if rest:
                paint = self.out
                click.echo(paint(rest, **style) if style else rest, nl=False, color=True)
                self._open["out"] = True

    def end(self, *, held: bool = True) -> None:
        """Finish the line (also after an error or Ctrl-C), so what follows starts clean.

        ``held=False`` drops a word still held back for wrapping instead of showing it.
        """
        if held:
            thinking: Style = {"dim": True, "italic": True} if self._mode == "thinking" else {}
            self._end_word(**thinking)
        elif self._wrap is not None:
            self._wrap.discard()
        for where in ("out", "err"):
            if self._open[where]:
                self._write(where, "\n")


def _stream_answer(
    client: Client,
    model: str,
    messages: str | list[Message],
    options: ChatOptions,
    printer: _Printer,
) -> tuple[ChatResponse, float]:
    started = time.perf_counter()
    try:
        with client.chat_stream(model, messages, **options) as stream:
            for chunk in stream:
                printer.chunk(chunk)
            response = stream.response
    except KeyboardInterrupt:
        printer.end(held=False)  # the terminal echoed ^C after the last word shown
        raise
    except BaseException:
        printer.end()
        raise
    printer.end()
    return response, time.perf_counter() - started


def _note_cut_off(response: ChatResponse) -> None:
    if response.finish_reason == "length":
        paint = Paint.stderr()
        note = "(cut off at the token limit: raise --max-tokens for more)"
        click.echo(paint(note, dim=True), err=True, color=True)


def _print_stats(response: ChatResponse, elapsed: float) -> None:
    parts: list[str] = []
    usage = response.usage
    timings = response.timings
    completion = usage.completion_tokens if usage else None
    if usage is not None and completion is not None:
        if usage.prompt_tokens is not None:
            total = usage.total_tokens or usage.prompt_tokens + completion
            parts.append(f"{total} tokens ({usage.prompt_tokens} prompt + {completion} completion)")
        else:
            parts.append(f"{completion} tokens")
    ttft = timings.time_to_first_token_ms if timings else None
    speed = timings.tokens_per_second if timings else None
    if speed is None and completion and timings and timings.generation_ms:
        speed = completion / (timings.generation_ms / 1000.0)
    if speed is None and completion and ttft is not None and elapsed * 1000.0 > ttft:
        speed = completion / (elapsed - ttft / 1000.0)
    if speed is not None:
        parts.append(f"{speed:.1f} tokens/s")
    if ttft is not None:
        parts.append(f"first token {ttft:.0f} ms")
    parts.append(f"{elapsed:.2f} s")
    paint = Paint.stderr()
    click.echo(paint(" · ".join(parts), dim=True), err=True, color=True)


# --------------------------------------------------------------------------- conversation


def _enable_line_editing() -> None:
    """Arrow keys and in-session history for ``input()`` where readline exists."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        try:
            import readline  # noqa: F401
        except ImportError:  # Windows without pyreadline: plain input still works
            pass


def _conversation(
    state: _context.State,
    model: str,
    system: str | None,
    options: ChatOptions,
    stats: bool,
) -> None:
    _enable_line_editing()
    paint = Paint.stdout()
    client = state.client
    if system is not None:
        options = {**options, "system": system}
    click.echo(
        paint(f"Chatting with {model}. /help for commands, Ctrl-D or /exit to leave.", dim=True),
        color=True,
    )
    history: list[Message] = []
    while True:
        try:
            line = input(">>> ")
        except EOFError:
            click.echo()
            return
        except KeyboardInterrupt:
            click.echo()
            click.echo(paint("(Ctrl-D or /exit to leave)", dim=True), color=True)
            continue
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            command = text.split()[0].lower()
            if command in EXIT_COMMANDS:
                return
            if command == "/clear":
                history.clear()
                click.echo(paint("(conversation cleared)", dim=True), color=True)
            elif command in ("/help", "/?"):
                click.echo(HELP)
            else:
                click.echo(f"Unknown command {command}; /help lists them.")
            continue
        history.append(Message(role="user", content=line))
        printer = _Printer()
        try:
            response, elapsed = _stream_answer(client, model, list(history), options, printer)
        except KeyboardInterrupt:
            _keep_partial(history, printer.text)
            if not printer.text and not printer.thinking:
                click.echo()  # the terminal echoed ^C after the prompt line
            click.echo(paint("(stopped)", dim=True) + "\n", color=True)
            continue
        except ModelNotFoundError:
            raise
        except StreamError as exc:
            _keep_partial(history, exc.partial or printer.text)
            report_error(exc, debug=state.debug)
            continue
        except ModelportError as exc:
            history.pop()
            report_error(exc, debug=state.debug)
            continue
        history.append(response.message)
        _note_cut_off(response)
        if stats:
            _print_stats(response, elapsed)
        click.echo()


def _keep_partial(history: list[Message], partial: str) -> None:
    """An answer cut short stays in the history, so the next turn can refer to it."""
    if partial:
        history.append(Message(role="assistant", content=partial))
    else:
        history.pop()


COMMANDS = [chat]

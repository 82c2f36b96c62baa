"""tests/pagekit.py, the one reader of the pages' fenced blocks, on small hand-made pages."""
from __future__ import annotations

import pytest

from pagekit import code_lines, console_runs, fences, find_run, prose_lines, seed_answers

PAGE = """\
# 章标题

```text
before any question
```

## 第一个问题？ {#first .seed}

```python title="snippets/raid.py"
--8<-- "raid.py:xor"
```

!!! abstract "面试回答"
    先看这个：

    ```pycon
    >>> 1 + 1
    2

    >>> print("x")
    x
    ```

## 第二个问题？

~~~~markdown
```python
not a fence of the page
```
~~~~

<!-- console-check -->
```console
$ echo hi
hi
```

<!-- console-check -->

```xml title='vm1.xml' hl_lines=2
<domain/>
```
"""


def test_each_fence_with_its_line_indent_info_and_section():
    found = fences(PAGE, "x.md")
    assert [(f.line, f.indent, f.marker, f.lang, f.section) for f in found] == [
        (3, "", "```", "text", ""),
        (9, "", "```", "python", "第一个问题？"),
        (16, "    ", "```", "pycon", "第一个问题？"),
        (26, "", "~~~~", "markdown", "第二个问题？"),
        (33, "", "```", "console", "第二个问题？"),
        (40, "", "```", "xml", "第二个问题？"),
    ]
    python, pycon, example = found[1], found[2], found[3]
    assert python.info == 'python title="snippets/raid.py"'
    assert python.title == "snippets/raid.py" and python.attrs == {"title": "snippets/raid.py"}
    assert python.body == '--8<-- "raid.py:xor"\n'
    assert python.where() == "x.md:9"
    # fence inside the admonition: its 4 spaces go, blank lines stay blank
    assert pycon.body == '>>> 1 + 1\n2\n\n>>> print("x")\nx\n'
    assert pycon.raw == '    >>> 1 + 1\n    2\n\n    >>> print("x")\n    x\n'
    # a fence shown inside a longer fence is text, not a fence of the page
    assert example.body == "```python\nnot a fence of the page\n```\n"
    assert found[5].attrs == {"title": "vm1.xml", "hl_lines": "2"}


def test_offsets_cover_the_fence_from_its_opening_line_to_its_closing_marker():
    pycon = fences(PAGE)[2]
    assert PAGE[pycon.start:pycon.end] == '    ```pycon\n' + pycon.raw + "    ```"
    assert PAGE.count("\n", 0, pycon.start) + 1 == pycon.line == 16


def test_console_check_marker_only_right_above_the_fence():
    assert [f.lang for f in fences(PAGE) if f.checked] == ["console"]   # a blank line breaks the xml's


def test_a_closing_fence_needs_the_opening_indent_and_length():
    page = "- item\n\n   ```sh\n   ls\n   ````\n```\n   ```\n"
    f, late = fences(page)
    # the 4-backtick line closes it (as long or longer); the unindented one would not have
    assert (f.indent, f.lang, f.body, f.line) == ("   ", "sh", "ls\n", 3)
    assert page[f.end:] == "\n```\n   ```\n"
    # what follows opens an unindented fence that the indented ``` cannot close
    assert (late.line, late.indent, late.body, late.end) == (6, "", "   ```\n", len(page))


def test_an_unclosed_fence_runs_to_the_end():
    [f] = fences("text\n```console\n$ ls\n")
    assert f.body == "$ ls\n" and f.end == len("text\n```console\n$ ls\n")


def test_code_lines_include_both_fence_lines():
    assert code_lines("a\n```\nb\n```\nc\n") == {2, 3, 4}


def test_console_runs_split_prompt_command_and_output():
    body = ("set up first, no prompt\n"
            "$ truncate -s 8M gpt.img\n"
            "# cryptsetup luksFormat -q \\\n"
            "    --label lab vol.img\n"
            "# cat bad.fstab\n"
            "# comment\n"
            "/dev/sdb1 /data ext4 defaults 0 2\n"
            "guest# mount -t virtiofs share /mnt\n"
            "$ for f in a b; do\n"
            ">   echo $f\n"
            "> done\n"
            "a\n"
            "b\n")
    runs = console_runs(body, first_line=10)
    assert [(r.prompt, r.command, r.output_lines, r.line) for r in runs] == [
        ("$", "truncate -s 8M gpt.img", (), 11),
        ("#", "cryptsetup luksFormat -q \\\n    --label lab vol.img", (), 12),
        ("#", "cat bad.fstab", (), 14),
        ("#", "comment", ("/dev/sdb1 /data ext4 defaults 0 2",), 15),
        ("guest#", "mount -t virtiofs share /mnt", (), 17),
        ("$", "for f in a b; do\n  echo $f\ndone", ("a", "b"), 18),
    ]
    assert [r.root for r in runs] == [False, True, True, True, True, False]
    assert runs[-1].output == "a\nb"
    # a line that looks like a prompt but is output, named by the test that knows
    cat = console_runs(body, also_output=("# comment",))[2]
    assert cat.command == "cat bad.fstab"
    assert cat.output_lines == ("# comment", "/dev/sdb1 /data ext4 defaults 0 2")


def test_a_backslash_continuation_shown_with_the_shells_prompt():
    [run] = console_runs("$ ls \\\n>   -d /\n/\n")
    assert (run.command, run.output_lines) == ("ls \\\n  -d /", ("/",))


def test_output_that_starts_with_a_prompt_character_but_no_space_is_output():
    [run] = console_runs("$ cat /etc/motd\n#!/bin/sh\n$PATH\n> quoted, but not right after the command\n")
    assert run.output_lines == ("#!/bin/sh", "$PATH", "> quoted, but not right after the command")


def test_fence_runs_number_lines_on_the_page():
    console = fences(PAGE)[4]
    [run] = console.runs()
    assert (run.command, run.output, run.line) == ("echo hi", "hi", 34)


def test_find_run_looks_through_the_console_blocks_only():
    found = fences(PAGE, "x.md")
    assert find_run(found, "echo hi").output_lines == ("hi",)
    with pytest.raises(AssertionError, match=r"no console command 'echo bye' on x\.md"):
        find_run(found, "echo bye")
    with pytest.raises(AssertionError):
        find_run(found, "echo hi", prompt="#")


def test_prose_and_answers_skip_what_is_inside_fences():
    page = ("## Q {#q .seed}\n\n"
            "````markdown\n## 不是标题 {#no .seed}\n```\n````\n\n"
            '!!! abstract "面试回答"\n    回答。\n\n正文\n')
    [answer] = seed_answers(page)
    assert (answer.question, answer.line, answer.body) == ("Q", 1, "回答。")
    assert [text for _, text in prose_lines(page) if text.strip()] == ["## Q ", "    回答。", "正文"]

#!/usr/bin/env python3
"""Check that every verifier rule of the attn dialect has an invalid.mlir case.

A *rule* is one diagnostic an op verifier can emit: every `emitOpError` /
`emitError` in lib/Dialect/Attn/IR/AttnOps.cpp. Messages built inside helper
functions (`checkRank(op, v, "table", 2)`, ...) are instantiated once per call
from an op's `verify()`, with the call's literal arguments substituted, so
"expects table of rank 2" and "expects positions of rank 2" are two rules.
Helper calls inside `for (auto [v, name] : {{getGate(), "gate"}, ...})` are
expanded per element.

A rule is covered when test/Dialect/Attn/invalid.mlir has an
`expected-error` whose target line holds that op (`attn.x` or `"attn.x"`)
and whose text contains all fixed text of the message, in order (values the
verifier computes, like types and sizes, match anything).

Usage: check_verifier_coverage.py [SOURCE_ROOT] [--list]
Exits 1 naming the rules without a case, 2 when the inputs cannot be read or
no rule is found.
"""

import os
import re
import sys

VERIFIER = os.path.join("lib", "Dialect", "Attn", "IR", "AttnOps.cpp")
OPS_TD = os.path.join("include", "attenuate", "Dialect", "Attn", "IR", "AttnOps.td")
INVALID = os.path.join("test", "Dialect", "Attn", "invalid.mlir")

EMITTERS = ("emitOpError", "emitError")
WILD = None  # a message piece the verifier computes at run time

# --------------------------------------------------------------------------
# A small C++ tokenizer: enough to find functions, calls and string literals.
# --------------------------------------------------------------------------

TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<pp>\#[^\n]*)
  | (?P<str>(?:u8|u|U|L)?"(?:[^"\\\n]|\\.)*")
  | (?P<chr>'(?:[^'\\\n]|\\.)+')
  | (?P<num>\d[\w.']*)
  | (?P<id>[A-Za-z_]\w*)
  | (?P<punct>::|->|<<|>>|&&|\|\||[<>=!]=|.)
    """,
    re.VERBOSE | re.DOTALL,
)

ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0",
           "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "?": "?"}


def unescape(body):
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n == "x":
                m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
                out.append(chr(int(m.group(0), 16)))
                i += 2 + len(m.group(0))
                continue
            out.append(ESCAPES.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


class Tok:
    __slots__ = ("kind", "text", "line")

    def __init__(self, kind, text, line):
        self.kind, self.text, self.line = kind, text, line

    def literal(self):
        """The text of a string/char literal token, else None."""
        if self.kind == "str":
            return unescape(self.text[self.text.index('"') + 1:-1])
        if self.kind == "chr":
            return unescape(self.text[1:-1])
        return None

    def __repr__(self):
        return "%s:%r" % (self.kind, self.text)


def tokenize(src):
    toks, line = [], 1
    for m in TOKEN_RE.finditer(src):
        kind = m.lastgroup
        if kind not in ("ws", "comment", "pp"):
            toks.append(Tok(kind, m.group(0), line))
        line += m.group(0).count("\n")
    return toks


def match_close(toks, i):
    """Index of the bracket closing toks[i] ('(', '{' or '[')."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    want, depth = pairs[toks[i].text], 0
    for j in range(i, len(toks)):
        t = toks[j].text
        if toks[j].kind != "punct":
            continue
        if t in pairs:
            depth += 1
        elif t in pairs.values():
            depth -= 1
            if depth == 0:
                if t != want:
                    raise ValueError("unbalanced brackets at line %d" % toks[j].line)
                return j
    raise ValueError("unclosed bracket at line %d" % toks[i].line)


def split_args(toks, lo, hi):
    """Top-level comma-separated token ranges of toks[lo:hi]."""
    args, start, j = [], lo, lo
    while j < hi:
        t = toks[j]
        if t.kind == "punct" and t.text in "({[":
            j = match_close(toks, j) + 1
            continue
        if t.kind == "punct" and t.text == ",":
            args.append((start, j))
            start = j + 1
        j += 1
    if start < hi:
        args.append((start, hi))
    return args


# --------------------------------------------------------------------------
# Functions of the verifier file.
# --------------------------------------------------------------------------

class Function:
    def __init__(self, name, op, params, body):
        self.name = name      # "EmbedOp::verify" or "checkRank"
        self.op = op          # "EmbedOp" for Op::verify, else None
        self.params = params  # parameter names, in order
        self.body = body      # (first, last) token indices inside the braces


def find_functions(toks):
    """Function definitions: `Name::verify(...) {` and free `f(...) {`."""
    funcs, i = [], 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "id" and i + 1 < len(toks) and toks[i + 1].text == "(":
            close = match_close(toks, i + 1)
            # Qualifiers may sit between ')' and '{' (const, override...).
            k = close + 1
            while k < len(toks) and toks[k].kind == "id" and toks[k].text in (
                    "const", "override", "noexcept", "final"):
                k += 1
            prev = toks[i - 1] if i else None
            is_def = (k < len(toks) and toks[k].text == "{" and prev is not None
                      and (prev.kind == "id" or prev.text in ("::", "*", "&", ">")))
            if is_def and t.text not in ("if", "for", "while", "switch", "return"):
                body_close = match_close(toks, k)
                op = None
                name = t.text
                if prev.text == "::" and i >= 2 and toks[i - 2].kind == "id":
                    name = toks[i - 2].text + "::" + t.text
                    if t.text.startswith("verify"):
                        op = toks[i - 2].text
                params = []
                for lo, hi in split_args(toks, i + 2, close):
                    ids = [toks[j].text for j in range(lo, hi)
                           if toks[j].kind == "id"]
                    # `int64_t rank = 0`: the name precedes any default.
                    eq = [j for j in range(lo, hi) if toks[j].text == "="]
                    if eq:
                        ids = [toks[j].text for j in range(lo, eq[0])
                               if toks[j].kind == "id"]
                    params.append(ids[-1] if ids else "")
                funcs.append(Function(name, op, params, (k + 1, body_close)))
                i = body_close + 1
                continue
        i += 1
    return funcs


def statement_end(toks, i, hi):
    """Index of the ';' ending the statement that contains toks[i]."""
    j = i
    while j < hi:
        t = toks[j]
        if t.kind == "punct" and t.text in "({[":
            j = match_close(toks, j) + 1
            continue
        if t.kind == "punct" and t.text == ";":
            return j
        j += 1
    return hi


def message_pieces(toks, lo, hi, bindings):
    """The message an emit statement builds, as literal strings and WILD.

    Every string literal is a piece; every operand of `<<` that is not a
    literal is WILD unless it names a bound helper parameter."""
    pieces = []

    def add(p):
        if p is WILD:
            if not pieces or pieces[-1] is not WILD:
                pieces.append(WILD)
        elif pieces and pieces[-1] is not WILD:
            pieces[-1] += p
        else:
            pieces.append(p)

    # Only the part from the emitter on: `return op->emitOpError(...) << ...`.
    j = lo
    while j < hi and not (toks[j].kind == "id" and toks[j].text in EMITTERS):
        j += 1
    j += 1
    # The emitter's own argument, e.g. emitOpError("msg").
    if j < hi and toks[j].text == "(":
        close = match_close(toks, j)
        for a, b in split_args(toks, j + 1, close):
            operand(toks, a, b, bindings, add)
        j = close + 1
    # The `<<` chain.
    ranges, start = [], None
    k = j
    while k < hi:
        t = toks[k]
        if t.kind == "punct" and t.text in "({[":
            k = match_close(toks, k) + 1
            continue
        if t.kind == "punct" and t.text == "<<":
            if start is not None:
                ranges.append((start, k))
            start = k + 1
        k += 1
    if start is not None:
        ranges.append((start, hi))
    for a, b in ranges:
        operand(toks, a, b, bindings, add)
    return pieces


def operand(toks, a, b, bindings, add):
    if b - a == 1:
        t = toks[a]
        lit = t.literal()
        if lit is not None:
            add(lit)
            return
        if t.kind == "id" and t.text in bindings:
            add(bindings[t.text])
            return
    # Adjacent string literals ("a" "b") are one literal.
    if all(toks[k].kind == "str" for k in range(a, b)) and b > a:
        add("".join(toks[k].literal() for k in range(a, b)))
        return
    add(WILD)


def arg_value(toks, a, b, env):
    """A call argument as message text (literal or bound name), else WILD."""
    if b - a == 1:
        t = toks[a]
        lit = t.literal()
        if lit is not None:
            return lit
        if t.kind == "num":
            return t.text
        if t.kind == "id" and t.text in env:
            return env[t.text]
    if b - a == 2 and toks[a].text == "-" and toks[a + 1].kind == "num":
        return "-" + toks[a + 1].text
    return WILD


def loop_bindings(toks, fn, call_index):
    """Environments for structured-binding range-fors around a call:
    `for (auto [v, name] : {std::pair<...>{getGate(), "gate"}, {getUp(), "up"}})`
    gives [{"name": "gate"}, {"name": "up"}] (non-literals are WILD)."""
    envs = [{}]
    lo, hi = fn.body
    i = lo
    while i < call_index:
        if (toks[i].text == "for" and toks[i + 1].text == "("):
            close = match_close(toks, i + 1)
            k = i + 2
            names = []
            while k < close and toks[k].text != "[":
                k += 1
            if k < close:
                end = match_close(toks, k)
                names = [toks[j].text for j in range(k + 1, end)
                         if toks[j].kind == "id"]
                colon = end + 1
                if (names and toks[colon].text == ":" and
                        toks[colon + 1].text == "{"):
                    list_close = match_close(toks, colon + 1)
                    # The loop body must contain the call.
                    body_start = close + 1
                    body_end = (match_close(toks, body_start)
                                if toks[body_start].text == "{" else
                                statement_end(toks, body_start, hi))
                    if body_start <= call_index <= body_end:
                        elems = []
                        for a, b in split_args(toks, colon + 2, list_close):
                            brace = next((j for j in range(a, b)
                                          if toks[j].text == "{"), None)
                            if brace is None:
                                continue
                            inner = split_args(toks, brace + 1,
                                               match_close(toks, brace))
                            env = {}
                            for n, (x, y) in zip(names, inner):
                                env[n] = arg_value(toks, x, y, {})
                            elems.append(env)
                        if elems:
                            envs = [dict(e, **el) for e in envs for el in elems]
            i = close
        i += 1
    return envs


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def op_mnemonics(root):
    """C++ class name -> op name, from AttnOps.td (snake_case as fallback)."""
    names = {}
    try:
        with open(os.path.join(root, OPS_TD), encoding="utf-8") as f:
            for m in re.finditer(r'def\s+Attn_(\w+)\s*:\s*Attn_Op<"([\w.]+)"',
                                 f.read()):
                names[m.group(1)] = "attn." + m.group(2)
    except OSError:
        pass
    return names


class Rule:
    def __init__(self, op, pieces, line, via):
        self.op, self.pieces, self.line, self.via = op, pieces, line, via

    def text(self):
        return "".join("<...>" if p is WILD else p for p in self.pieces)

    def regex(self):
        return re.compile(".*".join(re.escape(p) for p in self.pieces
                                    if p is not WILD and p.strip()),
                          re.DOTALL)

    def __str__(self):
        where = "AttnOps.cpp:%d" % self.line
        if self.via:
            where += " via %s" % self.via
        return "%s: %s  [%s]" % (self.op or "<any op>", self.text(), where)


def collect_rules(root):
    with open(os.path.join(root, VERIFIER), encoding="utf-8") as f:
        toks = tokenize(f.read())
    mnemonics = op_mnemonics(root)
    funcs = find_functions(toks)

    def emits(fn):
        lo, hi = fn.body
        return [i for i in range(lo, hi)
                if toks[i].kind == "id" and toks[i].text in EMITTERS
                and toks[i + 1].text in ("(",)]

    helpers = {fn.name: fn for fn in funcs if fn.op is None and emits(fn)}
    rules = []

    def instantiate(fn, env, op, via, stack):
        lo, hi = fn.body
        for e in emits(fn):
            # Statement bounds: back to the previous ';', '{' or '}'.
            s = e
            while s > lo and toks[s - 1].text not in (";", "{", "}"):
                s -= 1
            end = statement_end(toks, e, hi)
            pieces = message_pieces(toks, s, end, env)
            rules.append(Rule(op, pieces, toks[e].line, via))
        # Calls of helpers from this function.
        for i in range(lo, hi):
            t = toks[i]
            if (t.kind == "id" and t.text in helpers and
                    toks[i + 1].text == "(" and t.text not in stack):
                helper = helpers[t.text]
                close = match_close(toks, i + 1)
                args = split_args(toks, i + 2, close)
                for loop_env in loop_bindings(toks, fn, i):
                    scope = dict(env, **loop_env)
                    call_env = {}
                    for pname, (a, b) in zip(helper.params, args):
                        call_env[pname] = arg_value(toks, a, b, scope)
                    instantiate(helper, call_env, op,
                                "%s() at line %d" % (helper.name, t.line),
                                stack + [t.text])

    for fn in funcs:
        if fn.op is not None:
            op = mnemonics.get(fn.op, "attn." + snake(re.sub(r"Op$", "", fn.op)))
            instantiate(fn, {}, op, None, [])
    # Emits in functions that are neither verifiers nor their helpers.
    called = {r.via.split("(")[0] for r in rules if r.via}
    for fn in funcs:
        if fn.op is None and fn.name not in helpers:
            if emits(fn):
                instantiate(fn, {}, None, None, [])
        elif fn.op is None and fn.name not in called:
            instantiate(fn, {p: WILD for p in fn.params}, None, None, [])

    # One rule per (op, message).
    seen, unique = set(), []
    for r in rules:
        key = (r.op, tuple(r.pieces))
        if key not in seen:
            seen.add(key)
            unique.append(r)
    return unique


# --------------------------------------------------------------------------
# expected-error lines of invalid.mlir.
# --------------------------------------------------------------------------

EXPECT_RE = re.compile(
    r"expected-error\s*(?:@(?P<loc>[+-]\d+|above|below))?\s*(?:\*)?\s*\{\{(?P<msg>.*?)\}\}")
DESIGNATOR_RE = re.compile(r"expected-(?:error|warning|remark|note)")
OP_RE = re.compile(r'"?\b(attn\.\w+)\b"?')


def collect_expectations(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = []
    for n, line in enumerate(lines):
        m = EXPECT_RE.search(line)
        if not m:
            continue
        loc = m.group("loc")
        target = n
        if loc in ("below", "above"):
            step = 1 if loc == "below" else -1
            target = n + step
            while 0 <= target < len(lines) and DESIGNATOR_RE.search(lines[target]):
                target += step
        elif loc:
            target = n + int(loc)
        code = lines[target] if 0 <= target < len(lines) else ""
        code = code.split("//")[0] if "expected-" in code else code
        ops = set(OP_RE.findall(code))
        # Messages that name the op ('attn.x' op ...) count for it too.
        ops.update(re.findall(r"'(attn\.\w+)' op", m.group("msg")))
        out.append((n + 1, ops, m.group("msg")))
    return out


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    listing = "--list" in argv[1:]
    root = args[0] if args else os.path.join(os.path.dirname(
        os.path.abspath(__file__)), os.pardir)
    try:
        rules = collect_rules(root)
        expects = collect_expectations(os.path.join(root, INVALID))
    except (OSError, ValueError) as e:
        print("check_verifier_coverage: %s" % e, file=sys.stderr)
        return 2
    if not rules:
        print("check_verifier_coverage: no emitOpError/emitError found in %s"
              % VERIFIER, file=sys.stderr)
        return 2

    missing = []
    for r in rules:
        rx = r.regex()
        cases = [ln for ln, ops, msg in expects
                 if (r.op is None or r.op in ops) and rx.search(msg)]
        if listing:
            print("%-4s %s" % ("ok" if cases else "--", r)
                  + ("  <- invalid.mlir:%d" % cases[0] if cases else ""))
        if not cases:
            missing.append(r)
    if missing:
        print("%d of %d verifier rules have no expected-error case in %s:"
              % (len(missing), len(rules), INVALID), file=sys.stderr)
        for r in missing:
            print("  " + str(r), file=sys.stderr)
        return 1
    print("all %d verifier rules of %s have an expected-error case"
          % (len(rules), VERIFIER))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Judge hand-written mutants of the node by the simulator alone.

cargo-mutants (see README, "Do the tests find bugs?") judges a mutant by every test,
node's unit tests included, so a mutant that only a unit test sees counts as caught,
though no simulated client would ever notice it. This tool asks the other question:
would the harness catch it? For each mutant in the list file (one exact text
replacement in one file, see tools/sim-mutants.toml) it applies the change in a git
worktree of HEAD, builds the release `sim`, runs `sim run scenarios/` (every listed seed
of every shipped scenario) and reports caught (some case failed), missed (all passed) or
unviable (no build).

    python3 tools/sim-mutants.py                       # every mutant in the list
    python3 tools/sim-mutants.py --only M4 --only R2   # those whose label starts so
    python3 tools/sim-mutants.py --jobs 2 --list tools/sim-mutants.toml

One mutant costs an incremental release build of node and sim (about 40 s on two cores)
and the run (about a minute per core). The worktree and its target directory live under
target/sim-mutants/ and are reused across runs. Python 3.11 or later (tomllib).
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(cmd, cwd, **kw):
    return subprocess.run(cmd, cwd=cwd, text=True, capture_output=True, **kw)


def prepare_worktree(work: pathlib.Path) -> pathlib.Path:
    tree = work / "tree"
    head = run(["git", "rev-parse", "HEAD"], ROOT).stdout.strip()
    if not tree.exists():
        out = run(["git", "worktree", "add", "--detach", str(tree), head], ROOT)
        if out.returncode != 0:
            sys.exit(f"git worktree add failed: {out.stderr}")
    else:
        run(["git", "checkout", "-q", "--detach", head], tree)
    run(["git", "checkout", "-q", "--", "."], tree)
    return tree


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", default=str(ROOT / "tools" / "sim-mutants.toml"),
                    help="the mutant list (TOML, [[mutant]] tables with label, file, old, new)")
    ap.add_argument("--only", action="append", default=[],
                    help="run only mutants whose label starts with this (repeatable)")
    ap.add_argument("--jobs", type=int, default=1, help="worker threads for `sim run`")
    args = ap.parse_args()

    mutants = tomllib.loads(pathlib.Path(args.list).read_text())["mutant"]
    if args.only:
        mutants = [m for m in mutants if any(m["label"].startswith(o) for o in args.only)]
    work = ROOT / "target" / "sim-mutants"
    work.mkdir(parents=True, exist_ok=True)
    tree = prepare_worktree(work)
    env = {**os.environ, "CARGO_TARGET_DIR": str(work / "target")}

    results = []
    for i, m in enumerate(mutants, 1):
        label = m["label"]
        path = tree / m["file"]
        run(["git", "checkout", "-q", "--", "."], tree)
        text = path.read_text()
        count = text.count(m["old"])
        if count != 1:
            results.append((label, "stale", f"the text to replace occurs {count} times"))
            print(f"[{i}/{len(mutants)}] {label}: stale list entry ({count} matches)", flush=True)
            continue
        path.write_text(text.replace(m["old"], m["new"]))
        print(f"[{i}/{len(mutants)}] {label}: building", flush=True)
        build = run(["cargo", "build", "-q", "--release", "-p", "sim"], tree, env=env)
        if build.returncode != 0:
            why = (build.stderr.strip().splitlines() or [""])[-1]
            results.append((label, "unviable", why))
            print(f"[{i}/{len(mutants)}] {label}: unviable ({why})", flush=True)
            continue
        sim = work / "target" / "release" / "sim"
        out = run([str(sim), "run", "scenarios/", "-j", str(args.jobs)], tree)
        last = (out.stdout.strip().splitlines() or [""])[-1]
        verdict = "caught" if out.returncode != 0 else "missed"
        (work / f"{label.split()[0]}.out").write_text(out.stdout + out.stderr)
        results.append((label, verdict, last))
        print(f"[{i}/{len(mutants)}] {label}: {verdict} ({last})", flush=True)
    run(["git", "checkout", "-q", "--", "."], tree)

    print()
    for label, verdict, detail in results:
        print(f"{verdict:9} {label}: {detail}")
    caught = sum(v == "caught" for _, v, _ in results)
    print(f"\n{caught} caught, {sum(v == 'missed' for _, v, _ in results)} missed, "
          f"{sum(v == 'unviable' for _, v, _ in results)} unviable of {len(results)}; "
          f"each run's output is in {work}/<id>.out")
    return 0


if __name__ == "__main__":
    sys.exit(main())

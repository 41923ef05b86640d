#!/usr/bin/env python3
# Writes SOURCES.md from the header comments of the corpus files:
#   python3 testdata/nginx-corpus/gen-sources.py
import glob, os
here = os.path.dirname(os.path.abspath(__file__))
rows = []
for f in sorted(glob.glob(os.path.join(here, "*.conf"))):
    h = {}
    for line in open(f):
        if not line.startswith("# "):
            break
        if ": " in line and line[2:].split(":")[0] in ("repository", "path", "commit", "license", "changes"):
            k, v = line[2:].split(": ", 1)
            h[k] = v.strip()
            last = k
        elif line.startswith("#   ") and h:
            h[last] += " " + line[4:].strip()
    rows.append((os.path.basename(f), h))
out = ["# nginx corpus: sources", "",
       "Real nginx configurations written by other projects, kept as test data for",
       "TestCorpus (proxy/config/nginxconf/corpus_test.go) under their own licenses;",
       "each file's header names its repository, path, commit and license, and what",
       "was changed (comment-only lines removed, a template's placeholders filled in,",
       "a configuration taken out of its Markdown). `etc-nginx/` holds Debian's stock",
       "files (nginx 1.22.1-9+deb12u12, BSD-2-Clause) that the files include, and",
       "`dhparam.pem` (generated for the test with `openssl dhparam -dsaparam 2048`).",
       "Regenerate this list with `python3 testdata/nginx-corpus/gen-sources.py`.", "",
       "| file | repository | path | commit | license | changes |", "|---|---|---|---|---|---|"]
for name, h in rows:
    cell = lambda k: h.get(k, "").replace("|", "\\|")
    out.append("| `%s` | %s | %s | %s | %s | %s |" % (name, cell("repository"), cell("path"), cell("commit"), cell("license"), cell("changes")))
open(os.path.join(here, "SOURCES.md"), "w").write("\n".join(out) + "\n")

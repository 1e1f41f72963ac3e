#!/usr/bin/env python3
"""tests/cli/report.py PAGE SUMMARY CHECK... — check a replay --report page.

PAGE is the HTML file, SUMMARY the stderr replay printed with it.  Every
CHECK is one of:
  well-formed      html.parser reads it with every element closed in order
  self-contained   no http(s):// reference, no src=, no href but #anchors,
                   no script, link, iframe, object, embed, url() or @import
  summary          every line replay printed is in the page
  offender=ADDR    ADDR is the first row of the top offenders
  evidence=TEXT    an evidence row contains TEXT (as text, not markup)
  text=TEXT        TEXT is somewhere in the page's text
  bar=TEXT         a chart's bar is titled with TEXT at its end
  no-tag=NAME      no element NAME in the page
Prints one line per failed check and exits 1 if any failed.
"""
import html.parser
import re
import sys

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr", "line"}
FORBIDDEN = {"script", "link", "iframe", "object", "embed", "img", "base",
             "form", "input", "style_external"}


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags = [], [], []
        self.text = []
        self.attrs = []
        self.offenders = []	# first cell text of each offender row
        self.evidence = []	# text of each evidence row
        self._row = None
        self._in_offenders = False
        self.bars = []		# the titles of the charts' bars

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        for k, v in attrs:
            if k == "id" and v == "offenders":
                self._in_offenders = True
            if k == "id" and v == "evidence":
                self._in_offenders = False
        if tag == "tr":
            self._row = {"cls": dict(attrs).get("class", ""), "cells": []}
        if tag == "td" and self._row is not None:
            self._row["cells"].append("")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes <%s>" %
                               (tag, self.stack[-1] if self.stack else ""))
            return
        self.stack.pop()
        if tag == "tr" and self._row is not None:
            cells = self._row["cells"]
            if "evidence" in self._row["cls"]:
                self.evidence.append(" | ".join(cells))
            elif self._in_offenders and len(cells) > 1:
                self.offenders.append(cells[1])
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self.stack[-2:] == ["rect", "title"]:
            self.bars.append(data)
        if self._row is not None and self._row["cells"]:
            self._row["cells"][-1] += data


def main(argv):
    raw = open(argv[1], encoding="utf-8").read()
    summary = open(argv[2], encoding="utf-8", errors="replace").read()
    p = Page()
    p.feed(raw)
    p.close()
    text = "".join(p.text)
    bad = []
    for check in argv[3:]:
        name, _, arg = check.partition("=")
        if name == "well-formed":
            if p.errors or p.stack:
                bad.append("not well formed: %s; unclosed %s" %
                           (p.errors[:3], p.stack))
            if not raw.startswith("<!DOCTYPE html>"):
                bad.append("no doctype")
        elif name == "self-contained":
            if re.search(r"(?i)https?:", raw):
                bad.append("an http(s): reference")
            for k, v in p.attrs:
                if k == "src" or (k in ("href", "action", "xlink:href")
                                  and not (v or "").startswith("#")):
                    bad.append("attribute %s=%r" % (k, v))
            for t in set(p.tags) & FORBIDDEN:
                bad.append("element <%s>" % t)
            if re.search(r"(?i)url\(|@import", raw):
                bad.append("url() or @import")
        elif name == "summary":
            lines = [l for l in summary.splitlines()
                     if l.startswith("replay: ")]
            if not lines:
                bad.append("no summary lines in %s" % argv[2])
            for l in lines:
                if l not in text:
                    bad.append("summary line not in page: %s" % l)
        elif name == "offender":
            if not p.offenders or p.offenders[0] != arg:
                bad.append("first offender %r, want %r" %
                           (p.offenders[:1], arg))
        elif name == "evidence":
            if not any(arg in e for e in p.evidence):
                bad.append("no evidence row with %r (rows: %r)" %
                           (arg, p.evidence[:2]))
        elif name == "text":
            if arg not in text:
                bad.append("text %r not in page" % arg)
        elif name == "bar":
            if not any(b.endswith(arg) for b in p.bars):
                bad.append("no bar %r (bars: %r)" % (arg, p.bars[:4]))
        elif name == "no-tag":
            if arg in p.tags:
                bad.append("element <%s> in page" % arg)
        else:
            bad.append("unknown check %r" % check)
    for b in bad:
        print("report.py: " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

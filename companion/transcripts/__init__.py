"""Transcripts: the programme, archived captions and their exports.

The pure cores (no I/O, no clock): ``programme`` (which session ran when, with the
organizers' live starts and ends), ``records`` (archived captions and corrections),
``formats`` (SRT, WebVTT, text, JSON of one language) and ``bilingual`` (two
languages side by side, HTML and Markdown). ``files`` is the edge that reads and
appends the archive on disk, and ``archive`` puts them together for the service and
the CLI. The archiver that writes captions durably is ``workers/archiver``.
"""

"""What a person reads: plain-word sentences, the explorer's tables and charts, and reports as
JSON, text, HTML and PDF."""

"""The sweep results database (SQLite): schema.py creates, checks and upgrades it, write.py
records a sweep into it (SweepStore), read.py merges databases for reports (load)."""

-- 004_seeding: when a thread's conversation was seeded from its origin (once per thread).
ALTER TABLE conversations ADD COLUMN seeded_at INTEGER;

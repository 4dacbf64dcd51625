-- medic's database ("medic") is created by the postgres image; Temporal's two databases are created
-- by the temporal-schema service (temporal-sql-tool). Extra grants or extensions go here.
SELECT 1;

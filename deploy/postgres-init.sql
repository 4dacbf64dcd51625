-- Temporal's auto-setup creates its own databases; medic's lives in the default one ("medic").
-- Nothing else to do here: kept so that extra grants or extensions have an obvious home.
SELECT 1;

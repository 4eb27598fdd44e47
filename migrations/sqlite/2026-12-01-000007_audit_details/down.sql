-- Nothing to undo: `{}` is what those rows meant.
SELECT 1;

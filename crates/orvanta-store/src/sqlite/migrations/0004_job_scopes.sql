-- The scopes of the token that started a job (a JSON array; NULL: all of
-- its owner's rights). The job's own token is checked against this row.
ALTER TABLE jobs ADD COLUMN scopes TEXT;

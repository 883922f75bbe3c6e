-- The tags each worker claims, as ',a,b,' so that one tag is found with
-- instr(tags, ',' || tag || ','): a sync call can tell at once that no live
-- worker serves the tag it asked for.
ALTER TABLE workers ADD COLUMN tags TEXT NOT NULL DEFAULT '';

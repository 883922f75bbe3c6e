-- Who saved an inbound webhook definition last: its runs start as them.
ALTER TABLE hooks ADD COLUMN edited_by TEXT;

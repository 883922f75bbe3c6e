-- Identity: display names, session tokens, groups, folders and per-item
-- permissions (extra_perms of a script or flow path, kept across versions).
ALTER TABLE users ADD COLUMN name TEXT;
-- 'user': made by its owner; 'session': made by a login, ended by a logout.
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'user';

CREATE TABLE user_groups (
    workspace TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, name)
);

CREATE TABLE group_members (
    workspace TEXT NOT NULL,
    group_name TEXT NOT NULL,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    PRIMARY KEY (workspace, group_name, username),
    FOREIGN KEY (workspace, group_name) REFERENCES user_groups(workspace, name) ON DELETE CASCADE
);
CREATE INDEX group_members_user ON group_members(workspace, username);

-- owners: JSON array of 'u/{user}' / 'g/{group}'; extra_perms: JSON object of
-- the same keys, true = writer, false = reader.
CREATE TABLE folders (
    workspace TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    owners TEXT NOT NULL,
    extra_perms TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, name)
);

-- kind: 'script' or 'flow'; perms as folders.extra_perms.
CREATE TABLE item_perms (
    workspace TEXT NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    perms TEXT NOT NULL,
    PRIMARY KEY (workspace, kind, path)
);

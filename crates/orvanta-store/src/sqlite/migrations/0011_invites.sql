-- Invitations to a workspace, by email: the user (who may not exist yet)
-- accepts or declines them.
CREATE TABLE workspace_invites (
    workspace TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, email)
);
CREATE INDEX workspace_invites_email ON workspace_invites(email);

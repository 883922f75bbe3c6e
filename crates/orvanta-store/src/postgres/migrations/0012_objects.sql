-- Workspace objects that scripts read: variables (secret ones sealed by the
-- server before they reach the database), resource types, resources, and
-- apps (stored JSON definitions, one row per version).
CREATE TABLE variables (
    workspace TEXT NOT NULL,
    path TEXT NOT NULL,
    value TEXT NOT NULL,
    is_secret BOOLEAN NOT NULL,
    description TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, path)
);

CREATE TABLE resource_types (
    workspace TEXT NOT NULL,
    name TEXT NOT NULL,
    schema TEXT NOT NULL,
    description TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, name)
);

CREATE TABLE resources (
    workspace TEXT NOT NULL,
    path TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    value TEXT NOT NULL,
    description TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, path)
);
CREATE INDEX resources_type ON resources(workspace, resource_type);

CREATE TABLE apps (
    workspace TEXT NOT NULL,
    path TEXT NOT NULL,
    version BIGINT NOT NULL,
    summary TEXT NOT NULL,
    value TEXT NOT NULL,
    policy TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, path, version)
);

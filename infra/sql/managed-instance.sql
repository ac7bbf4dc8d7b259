/*
  xelwatch: audit an Azure SQL Managed Instance into the xelwatch audit account.

  Run in master as a sysadmin, with sqlcmd (or SSMS in SQLCMD mode):
    sqlcmd -S <mi>.<dns-zone>.database.windows.net -d master --authentication-method ActiveDirectoryDefault \
      -v StorageUrl="https://<auditaccount>.blob.core.windows.net/sqldbauditlogs" -i infra/sql/managed-instance.sql
  deploy.sh prints the StorageUrl at the end. Re-runnable: every object is
  created only when missing; STATE = ON is (re)applied.

  Authentication to the container (pick one, section 1):
    A. Managed identity (recommended; nothing to rotate, works with the
       key-less audit account xelwatch creates). Give the instance's identity
       Storage Blob Data Contributor on the audit account first:
         az role assignment create --role "Storage Blob Data Contributor" \
           --assignee-object-id <MI principal id> --assignee-principal-type ServicePrincipal \
           --scope <audit account resource id (deploy.sh prints it)>
       (MI principal id: az sql mi show -g RG -n MI --query identity.principalId;
        add one with: az sql mi update -g RG -n MI --assign-identity)
       NOT verified on a live instance: the documented MI audit examples use
       a SAS credential (B); the managed-identity credential is the form MI
       accepts for other URL targets. If ALTER SERVER AUDIT ... STATE = ON
       reports an access error (sys.dm_server_audit_status), use B.
    B. Shared access signature: the SAS must be container-scoped with
       read, write, list and create permissions and no leading '?'. An
       account-key SAS needs shared-key access on the account, which xelwatch's
       own audit account has turned off; a user-delegation SAS lives at most
       7 days. So B is for an existing account that allows keys.

  What is audited: the groups the detection catalog needs (docs/rules.md,
  "Action groups" column), with the rule ids that use them.
*/

SET NOCOUNT ON;
:on error exit

-- ---------------------------------------------------------------------------
-- 1. Credential named after the container URL.
-- ---------------------------------------------------------------------------
IF NOT EXISTS (SELECT 1 FROM sys.credentials WHERE name = N'$(StorageUrl)')
BEGIN
    -- A. managed identity
    CREATE CREDENTIAL [$(StorageUrl)] WITH IDENTITY = 'Managed Identity';
    -- B. SAS instead of A (comment A out):
    -- CREATE CREDENTIAL [$(StorageUrl)]
    --     WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = '<sas token without ?>';
END;
GO

-- ---------------------------------------------------------------------------
-- 2. The server audit, written as .xel append blobs under the container.
--    QUEUE_DELAY 1000 ms: records reach storage within about a second.
--    ON_FAILURE = CONTINUE keeps the instance serving when storage is
--    unreachable; the AUSF record / silence is what AUD-007 alerts on.
-- ---------------------------------------------------------------------------
IF NOT EXISTS (SELECT 1 FROM sys.server_audits WHERE name = N'xelwatch')
    CREATE SERVER AUDIT [xelwatch]
        TO URL (PATH = N'$(StorageUrl)', RETENTION_DAYS = 0)
        WITH (QUEUE_DELAY = 1000, ON_FAILURE = CONTINUE);
GO

-- ---------------------------------------------------------------------------
-- 3. Server audit specification.
-- ---------------------------------------------------------------------------
IF NOT EXISTS (SELECT 1 FROM sys.server_audit_specifications WHERE name = N'xelwatch-server')
    CREATE SERVER AUDIT SPECIFICATION [xelwatch-server]
        FOR SERVER AUDIT [xelwatch]
        ADD (BACKUP_RESTORE_GROUP),                   -- EXF-001..007, DES-003: BACKUP/RESTORE with destination
        ADD (AUDIT_CHANGE_GROUP),                     -- AUD-001..006: audits and specs altered/dropped (+ AUSC)
        ADD (SUCCESSFUL_LOGIN_GROUP),                 -- AUTH-003, AUTH-005
        ADD (FAILED_LOGIN_GROUP),                     -- AUTH-001, AUTH-002, AUTH-004
        ADD (SERVER_ROLE_MEMBER_CHANGE_GROUP),        -- PRV-001, PRV-008 (sysadmin & co.)
        ADD (SERVER_PERMISSION_CHANGE_GROUP),         -- PRV-003 (CONTROL SERVER, IMPERSONATE, ...)
        ADD (SERVER_PRINCIPAL_CHANGE_GROUP),          -- PRV-004 (logins created/enabled, sa)
        ADD (SERVER_PRINCIPAL_IMPERSONATION_GROUP),   -- PRV-005 (EXECUTE AS LOGIN)
        ADD (LOGIN_CHANGE_PASSWORD_GROUP),            -- PRV-004 (password reset of another login)
        ADD (SERVER_OPERATION_GROUP),                 -- EXE-002 (sp_configure), EXE-004 (XU/XA)
        ADD (SERVER_OBJECT_CHANGE_GROUP),             -- EXF-005 (credentials), endpoints
        ADD (SERVER_OBJECT_OWNERSHIP_CHANGE_GROUP),   -- PRV-007
        ADD (SERVER_STATE_CHANGE_GROUP),              -- DES-005
        ADD (TRACE_CHANGE_GROUP),                     -- AUD-008
        ADD (DATABASE_CHANGE_GROUP),                  -- DES-001 (DROP DATABASE)
        ADD (DATABASE_ROLE_MEMBER_CHANGE_GROUP),      -- PRV-002 (db_owner, db_backupoperator, ...)
        ADD (DATABASE_PERMISSION_CHANGE_GROUP),       -- PRV-003
        ADD (DATABASE_PRINCIPAL_CHANGE_GROUP),        -- PRV-004 (users)
        ADD (DATABASE_PRINCIPAL_IMPERSONATION_GROUP), -- PRV-005 (EXECUTE AS USER)
        ADD (DATABASE_OBJECT_CHANGE_GROUP),           -- EXF-005 (database scoped credentials), EXF-008
        ADD (DATABASE_OWNERSHIP_CHANGE_GROUP),        -- PRV-007
        ADD (SCHEMA_OBJECT_CHANGE_GROUP),             -- DES-001 (DROP/TRUNCATE TABLE)
        ADD (BATCH_COMPLETED_GROUP)                   -- statement text for EXE-*, EXF-008 (volume: see README)
        WITH (STATE = ON);
GO
ALTER SERVER AUDIT SPECIFICATION [xelwatch-server] WITH (STATE = ON);
GO

-- ---------------------------------------------------------------------------
-- 4. Executions of dangerous procedures (EXE-002, PRV-006): a database audit
--    specification in master on exactly these objects, instead of the very
--    noisy SCHEMA_OBJECT_ACCESS_GROUP. Managed Instance does not support
--    xp_cmdshell, extended procedures or OLE automation, so only these
--    remain (sql-server.sql watches the others).
-- ---------------------------------------------------------------------------
USE master;
GO
IF NOT EXISTS (SELECT 1 FROM sys.database_audit_specifications WHERE name = N'xelwatch-master-exec')
    CREATE DATABASE AUDIT SPECIFICATION [xelwatch-master-exec]
        FOR SERVER AUDIT [xelwatch]
        ADD (EXECUTE ON OBJECT::sys.sp_configure BY public),
        ADD (EXECUTE ON OBJECT::sys.sp_procoption BY public)
        WITH (STATE = ON);
GO

-- ---------------------------------------------------------------------------
-- 5. Turn the audit on (idempotent) and show the result.
-- ---------------------------------------------------------------------------
ALTER SERVER AUDIT [xelwatch] WITH (STATE = ON);
GO
SELECT a.name, a.is_state_enabled, s.audit_file_path
FROM sys.server_audits AS a
LEFT JOIN sys.dm_server_audit_status AS s ON s.audit_id = a.audit_id
WHERE a.name = N'xelwatch';
GO

/*
  xelwatch: audit SQL Server (on-premises or on a VM) to local .sqlaudit files
  that are then shipped to the xelwatch audit account.

  SQL Server cannot write audit files to a URL (TO URL is Managed Instance
  only), so the audit goes TO FILE and the files are copied to the audit
  container, under a folder per server:
      sqldbauditlogs/<server>/<file>.sqlaudit
  The Event Grid subscription accepts .sqlaudit as well as .xel.

  Run in master as a sysadmin:
    sqlcmd -S <server> -d master -E -v AuditPath="D:\SQLAudit\" -i infra/sql/sql-server.sql
  AuditPath must exist, end with a backslash (Windows) or slash (Linux), and be
  writable by the SQL Server service account. Re-runnable.

  Shipping the files (pick one):
    * xelwatch watch --dir <AuditPath> ...: the xelwatch binary follows the
      folder itself and ingests new and growing files (see the top-level
      README / `xelwatch watch --help`); no copy to Azure needed.
    * AzCopy with an identity (no keys), e.g. every minute from a scheduled task:
        azcopy login --identity      (VM managed identity with Storage Blob Data
                                      Contributor on the audit account)
        azcopy sync "D:\SQLAudit" "https://<auditaccount>.blob.core.windows.net/sqldbauditlogs/<server>" \
          --include-pattern "*.sqlaudit"
      azcopy sync re-uploads a file that grew (the block blob is replaced and
      raises BlobCreated again), which the ingest handles idempotently.

  What is audited: the groups the detection catalog needs (docs/rules.md,
  "Action groups" column), with the rule ids that use them.
*/

SET NOCOUNT ON;
:on error exit

-- ---------------------------------------------------------------------------
-- 1. The server audit. 256 MB files, 64 of them kept locally (ship them
--    before they roll off). ON_FAILURE = CONTINUE keeps the server serving
--    when the disk is full; AUD-007 alerts on the AUSF record / silence.
-- ---------------------------------------------------------------------------
IF NOT EXISTS (SELECT 1 FROM sys.server_audits WHERE name = N'xelwatch')
    CREATE SERVER AUDIT [xelwatch]
        TO FILE (FILEPATH = N'$(AuditPath)', MAXSIZE = 256 MB, MAX_ROLLOVER_FILES = 64, RESERVE_DISK_SPACE = OFF)
        WITH (QUEUE_DELAY = 1000, ON_FAILURE = CONTINUE);
GO

-- ---------------------------------------------------------------------------
-- 2. Server audit specification (all versions from SQL Server 2016).
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
        ADD (SERVER_STATE_CHANGE_GROUP),              -- DES-005 (service stop/pause)
        ADD (TRACE_CHANGE_GROUP),                     -- AUD-008
        ADD (DATABASE_CHANGE_GROUP),                  -- DES-001 (DROP DATABASE)
        ADD (DATABASE_ROLE_MEMBER_CHANGE_GROUP),      -- PRV-002 (db_owner, db_backupoperator, ...)
        ADD (DATABASE_PERMISSION_CHANGE_GROUP),       -- PRV-003
        ADD (DATABASE_PRINCIPAL_CHANGE_GROUP),        -- PRV-004 (users)
        ADD (DATABASE_PRINCIPAL_IMPERSONATION_GROUP), -- PRV-005 (EXECUTE AS USER)
        ADD (DATABASE_OBJECT_CHANGE_GROUP),           -- EXF-005 (database scoped credentials), EXF-008
        ADD (DATABASE_OWNERSHIP_CHANGE_GROUP),        -- PRV-007
        ADD (SCHEMA_OBJECT_CHANGE_GROUP)              -- DES-001 (DROP/TRUNCATE TABLE)
        WITH (STATE = ON);
GO
ALTER SERVER AUDIT SPECIFICATION [xelwatch-server] WITH (STATE = ON);
GO

-- BATCH_COMPLETED_GROUP (statement text of every batch: EXE-*, EXF-008) exists
-- from SQL Server 2019 (15.x) on. It is voluminous; enable it deliberately:
-- ALTER SERVER AUDIT SPECIFICATION [xelwatch-server] WITH (STATE = OFF);
-- ALTER SERVER AUDIT SPECIFICATION [xelwatch-server] ADD (BATCH_COMPLETED_GROUP);
-- ALTER SERVER AUDIT SPECIFICATION [xelwatch-server] WITH (STATE = ON);

-- ---------------------------------------------------------------------------
-- 3. Executions of dangerous procedures (EXE-001 xp_cmdshell, EXE-002
--    sp_configure, EXE-003 OLE automation, EXE-004 extended procedures,
--    PRV-006 startup procedures): a database audit specification in master on
--    exactly these objects, instead of the very noisy SCHEMA_OBJECT_ACCESS_GROUP.
-- ---------------------------------------------------------------------------
USE master;
GO
IF NOT EXISTS (SELECT 1 FROM sys.database_audit_specifications WHERE name = N'xelwatch-master-exec')
    CREATE DATABASE AUDIT SPECIFICATION [xelwatch-master-exec]
        FOR SERVER AUDIT [xelwatch]
        ADD (EXECUTE ON OBJECT::sys.xp_cmdshell BY public),
        ADD (EXECUTE ON OBJECT::sys.sp_configure BY public),
        ADD (EXECUTE ON OBJECT::sys.sp_procoption BY public),
        ADD (EXECUTE ON OBJECT::sys.sp_OACreate BY public),
        ADD (EXECUTE ON OBJECT::sys.sp_OAMethod BY public),
        ADD (EXECUTE ON OBJECT::sys.sp_addextendedproc BY public)
        WITH (STATE = ON);
GO

-- ---------------------------------------------------------------------------
-- 4. Turn the audit on (idempotent) and show where the files go.
-- ---------------------------------------------------------------------------
ALTER SERVER AUDIT [xelwatch] WITH (STATE = ON);
GO
SELECT a.name, a.is_state_enabled, s.audit_file_path
FROM sys.server_audits AS a
LEFT JOIN sys.dm_server_audit_status AS s ON s.audit_id = a.audit_id
WHERE a.name = N'xelwatch';
GO

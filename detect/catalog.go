package detect

func withStmt(actions ...string) []string { return append(actions, stmtActions...) }

var (
	grpFailedAuth  = []string{"FAILED_LOGIN_GROUP", "FAILED_DATABASE_AUTHENTICATION_GROUP"}
	grpExecution   = []string{grpSchemaAx, grpBatch}
	loginFailures  = []string{"LGIF", "DBAF"}
	loginSuccesses = []string{"LGIS", "DBAS"}
	basGroups      = []string{"SUCCESSFUL_LOGIN_GROUP", "SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP", grpBatch}
	// errorActions are the records whose additional_information carries
	// the error numbers the error-spike rules count.
	errorActions = []string{"LGIF", "DBAF", "BCM", "RCM"}
	batchOnly    = []string{"BCM", "RCM", "BST", "RST"}
)

// catalog is the rule table; docs/rules.md is generated from it. A rule
// listening on batch records (withStmt) declares in its needs what their
// statement must show for the rule to be evaluated (see needs); the
// others declare needs{}.
var catalog = []*rule{
	// A. Exfiltration via backup (phase 1).
	{RuleInfo{ID: "EXF-001", Title: "Backup to non-allow-listed destination", Severity: High, Technique: "T1537", Phase: 1,
		Groups: []string{grpBackup}, Actions: []string{"BA", "BAL"},
		Condition: "successful BA/BAL (class DB) whose statement names a destination (URL, DISK incl. UNC, TAPE, device, every stripe and MIRROR TO) outside the destination allow-list; variables, a truncated statement or one cut by the service at exactly 4000 characters = unknown location"}, exf001, needs{}},
	{RuleInfo{ID: "EXF-002", Title: "COPY_ONLY backup by non-allow-listed principal or application", Severity: High, Technique: "T1537", Phase: 1,
		Groups: []string{grpBackup}, Actions: []string{"BA", "BAL"}, ActorAllowList: true,
		Condition: "BA/BAL with COPY_ONLY in WITH, unless principal, application and client IP are allow-listed"}, exf002, needs{}},
	{RuleInfo{ID: "EXF-004", Title: "Encryption key or certificate backup", Severity: High, Technique: "T1552.004", Phase: 1,
		Groups: []string{grpBackup}, Actions: []string{"BA"},
		Condition: "BA with class CR/MK/SK or BACKUP CERTIFICATE / [SERVICE] MASTER KEY / SYMMETRIC KEY; silent only when the destination and the principal are both allow-listed"}, exf004, needs{}},
	{RuleInfo{ID: "EXF-005", Title: "Credential staged for URL backup", Severity: Medium, Technique: "T1537", Phase: 1, Windowed: true,
		Groups: []string{grpSrvObj, grpDBObj, grpBackup}, Actions: []string{"CR", "AL", "BA", "BAL"},
		Condition: "CR/AL class CD/DC naming a blob URL or SHARED ACCESS SIGNATURE outside the destination allow-list (medium); the same principal then running an EXF-001/002 backup within the correlation window (high; one finding per backup, naming the latest credential staged)"}, exf005, needs{}},
	{RuleInfo{ID: "EXF-006", Title: "Failed backup to foreign destination", Severity: Medium, Technique: "T1537", Phase: 1,
		Groups: []string{grpBackup}, Actions: []string{"BA", "BAL"},
		Condition: "BA/BAL with succeeded = 0 to a destination outside the allow-list (or unknown)"}, exf006, needs{}},
	{RuleInfo{ID: "EXF-007", Title: "Restore from foreign source or over an existing database", Severity: Medium, Technique: "T1565.001", Phase: 1, Maintenance: true,
		Groups: []string{grpBackup}, Actions: []string{"RS"},
		Condition: "RS class DB restoring DATABASE/LOG from a source outside the destination allow-list, or WITH REPLACE"}, exf007, needs{}},

	// B. Audit tampering (phase 1).
	{RuleInfo{ID: "AUD-001", Title: "Server audit disabled, dropped or altered", Severity: High, Technique: "T1562", Phase: 1,
		Groups: []string{grpAudit}, Actions: []string{"AL", "DR", "AUSC"},
		Condition: "AL/DR class A; critical for DROP or STATE = OFF (also an AUSC record whose statement sets STATE = OFF)"}, aud001, needs{}},
	{RuleInfo{ID: "AUD-002", Title: "Audit specification disabled, dropped or groups removed", Severity: High, Technique: "T1562", Phase: 1,
		Groups: []string{grpAudit}, Actions: []string{"AL", "DR"},
		Condition: "AL/DR class SA/DA; critical for DROP, STATE = OFF, or DROP (BACKUP_RESTORE_GROUP | AUDIT_CHANGE_GROUP | *_LOGIN_GROUP | *DATABASE_AUTHENTICATION_GROUP)"}, aud002, needs{}},
	{RuleInfo{ID: "AUD-003", Title: "Audit filter predicate added or changed", Severity: High, Technique: "T1562", Phase: 1,
		Groups: []string{grpAudit}, Actions: []string{"AL"},
		Condition: "AL class A whose statement has a WHERE predicate"}, aud003, needs{}},
	{RuleInfo{ID: "AUD-004", Title: "Audit target or failure behaviour changed", Severity: Medium, Technique: "T1562", Phase: 1, Maintenance: true,
		Groups: []string{grpAudit}, Actions: []string{"AL"},
		Condition: "AL class A setting TO, FILEPATH, MAXSIZE, MAX_ROLLOVER_FILES, MAX_FILES, RESERVE_DISK_SPACE, ON_FAILURE or QUEUE_DELAY"}, aud004, needs{}},
	{RuleInfo{ID: "AUD-005", Title: "Audit or audit specification created by non-allow-listed principal", Severity: Low, Technique: "T1562", Phase: 1, ActorAllowList: true,
		Groups: []string{grpAudit}, Actions: []string{"CR"},
		Condition: "CR class A/SA/DA/DU unless the actor is allow-listed"}, aud005, needs{}},
	{RuleInfo{ID: "AUD-006", Title: "Audit tampering followed by backup", Severity: Critical, Technique: "T1562", Phase: 1, Windowed: true,
		Groups: []string{grpAudit, grpBackup}, Actions: []string{"AL", "DR", "BA", "BAL", "CR", "AUSC"},
		Condition: "an audit-weakening AL/DR on A/SA/DA and a BA/BAL or staged credential on the same server within the correlation window, in either processing order; or a non-allow-listed backup followed by the audit re-enabled (AUSC or STATE = ON). One finding per backup or credential record, whose detection id is keyed on that record whichever pairing is found first; it names the latest audit change before it (else the earliest re-enable after it), preferring one by its own session principal (then critical, else high)"}, aud006, needs{}},
	{RuleInfo{ID: "AUD-007", Title: "Audit write failure", Severity: High, Technique: "T1562", Phase: 1,
		Groups: []string{"(intrinsic)"}, Actions: []string{"AUSF"},
		Condition: "AUSF record: the audit could not write"}, aud007, needs{}},

	// G. Defense evasion (phase 1): padding that hides a command from
	// the other rules or from the tools that read the audit.
	{RuleInfo{ID: "EVA-001", Title: "Oversized statement (padding)", Severity: Medium, Technique: "T1027.001", Phase: 1,
		Groups: []string{"(any group that records statements)"}, Actions: []string{anyAction},
		Condition: "any record whose statement, as written (a split record counts whole), is longer than XELWATCH_OVERSIZED_STATEMENT_CHARS (65,536) characters; high when it is longer than the reader keeps (2 MiB in the function app), so that only its head and tail were evaluated"}, eva001, needs{}},

	// C. Privilege escalation / persistence (phase 2).
	{RuleInfo{ID: "PRV-001", Title: "Member added to high-privilege server role", Severity: High, Technique: "T1098", Phase: 2,
		Groups: []string{"SERVER_ROLE_MEMBER_CHANGE_GROUP", grpBatch}, Actions: withStmt("APRL"),
		Condition: "APRL class SG on sysadmin, securityadmin, serveradmin, setupadmin, processadmin, dbcreator or bulkadmin; or a statement ALTER SERVER ROLE … ADD MEMBER / sp_addsrvrolemember on those roles"}, prv001, needs{hints: hintMember, procs: []string{"add"}}},
	{RuleInfo{ID: "PRV-002", Title: "Member added to high-privilege database role", Severity: Medium, Technique: "T1098", Phase: 2,
		Groups: []string{"DATABASE_ROLE_MEMBER_CHANGE_GROUP", grpBatch}, Actions: withStmt("APRL"),
		Condition: "APRL class RL on db_owner, db_securityadmin, db_accessadmin, db_backupoperator or db_ddladmin; or ALTER ROLE … ADD MEMBER / sp_addrolemember on those roles"}, prv002, needs{hints: hintMember, procs: []string{"add"}}},
	{RuleInfo{ID: "PRV-003", Title: "Dangerous permission granted", Severity: High, Technique: "T1098", Phase: 2,
		Groups: []string{"SERVER_PERMISSION_CHANGE_GROUP", "DATABASE_PERMISSION_CHANGE_GROUP"}, Actions: []string{"G", "GWG"},
		Condition: "G/GWG class SR/DB granting CONTROL SERVER, CONTROL, ALTER ANY LOGIN, ALTER ANY SERVER/DATABASE AUDIT, IMPERSONATE, BACKUP DATABASE/LOG, ALTER ANY SERVER ROLE, ALTER ANY CREDENTIAL or UNSAFE ASSEMBLY"}, prv003, needs{}},
	{RuleInfo{ID: "PRV-004", Title: "Login created, enabled or weakened", Severity: Medium, Technique: "T1136", Phase: 2, ActorAllowList: true,
		Groups: []string{"SERVER_PRINCIPAL_CHANGE_GROUP", "LOGIN_CHANGE_PASSWORD_GROUP"}, Actions: []string{"CR", "LGEA", "AL", "PWR"},
		Condition: "CR class LX/SL/WL/WG; LGEA; AL on a login with ENABLE or CHECK_POLICY/CHECK_EXPIRATION = OFF; PWR on another principal (high when the login is privileged, e.g. sa)"}, prv004, needs{}},
	{RuleInfo{ID: "PRV-005", Title: "Impersonation of a privileged principal", Severity: Medium, Technique: "T1134", Phase: 2,
		Groups: []string{"SERVER_PRINCIPAL_IMPERSONATION_GROUP", "DATABASE_PRINCIPAL_IMPERSONATION_GROUP"}, Actions: withStmt("IMP"),
		Condition: "IMP whose target is a privileged principal (XELWATCH_PRIVILEGED_PRINCIPALS, default sa, dbo), or EXECUTE AS LOGIN/USER = that principal in a statement"}, prv005, needs{hints: hintExecute}},
	{RuleInfo{ID: "PRV-006", Title: "Startup procedure persistence", Severity: High, Technique: "T1505.001", Phase: 2,
		Groups: grpExecution, Actions: withStmt(),
		Condition: "EX of sp_procoption, or a statement calling sp_procoption with 'startup'"}, prv006, needs{procs: []string{"procoption"}}},
	{RuleInfo{ID: "PRV-007", Title: "Ownership change of database or server role", Severity: Medium, Technique: "T1098", Phase: 2, Maintenance: true,
		Groups: []string{"SERVER_OBJECT_OWNERSHIP_CHANGE_GROUP", "DATABASE_OWNERSHIP_CHANGE_GROUP"}, Actions: []string{"TO"},
		Condition: "TO class DB/SG (ALTER AUTHORIZATION)"}, prv007, needs{}},
	{RuleInfo{ID: "PRV-008", Title: "Role membership removed or login disabled", Severity: Low, Technique: "T1531", Phase: 2, Maintenance: true,
		Groups: []string{"SERVER_ROLE_MEMBER_CHANGE_GROUP", "DATABASE_ROLE_MEMBER_CHANGE_GROUP", "SERVER_PRINCIPAL_CHANGE_GROUP", grpBatch}, Actions: []string{"DPRL", "LGDA", "BCM", "RCM", "BST", "RST"},
		Condition: "DPRL or LGDA, or a batch statement ALTER [SERVER] ROLE … DROP MEMBER / sp_droprolemember / sp_dropsrvrolemember (possible lock-out or cover-up)"}, prv008, needs{words: []string{"member"}, procs: []string{"droprolemember", "dropsrvrolemember"}}},
	{RuleInfo{ID: "PRV-009", Title: "Member added to a role", Severity: Low, Technique: "T1098", Phase: 2, ActorAllowList: true,
		Groups: []string{"DATABASE_ROLE_MEMBER_CHANGE_GROUP", "SERVER_ROLE_MEMBER_CHANGE_GROUP", grpBatch}, Actions: withStmt("APRL"),
		Condition: "APRL class RL or SG, or a statement ALTER [SERVER] ROLE … ADD MEMBER / sp_addrolemember / sp_addsrvrolemember, on any role PRV-001/002 do not watch (their roles stay medium/high there); unless the actor is allow-listed"}, prv009, needs{hints: hintMember, procs: []string{"add"}}},

	// D. Authentication attacks (phase 2).
	{RuleInfo{ID: "AUTH-001", Title: "Brute force from one source", Severity: Medium, Technique: "T1110.001", Phase: 2, Windowed: true,
		Groups: grpFailedAuth, Actions: loginFailures,
		Condition: "at least XELWATCH_BRUTE_FORCE_THRESHOLD (8) LGIF/DBAF from the same client IP on one server within XELWATCH_BRUTE_FORCE_WINDOW (10m); one finding per source per window"}, auth001, needs{}},
	{RuleInfo{ID: "AUTH-002", Title: "Password spray from one source", Severity: High, Technique: "T1110.003", Phase: 2, Windowed: true,
		Groups: grpFailedAuth, Actions: loginFailures,
		Condition: "at least XELWATCH_SPRAY_THRESHOLD (5) distinct principals failing from one client IP within XELWATCH_SPRAY_WINDOW (30m)"}, auth002, needs{}},
	{RuleInfo{ID: "AUTH-003", Title: "Successful login after failures", Severity: High, Technique: "T1078", Phase: 2, Windowed: true,
		Groups: append([]string{"SUCCESSFUL_LOGIN_GROUP", "SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP"}, grpFailedAuth...), Actions: loginSuccesses,
		Condition: "LGIS/DBAS from a client IP, or for a principal, that AUTH-001/002 reported within XELWATCH_SUCCESS_AFTER_FAILURES_WINDOW (30m); one finding per client IP and principal per window"}, auth003, needs{}},
	{RuleInfo{ID: "AUTH-004", Title: "Failed login from public address", Severity: Medium, Technique: "T1110", Phase: 2, Windowed: true,
		Groups: grpFailedAuth, Actions: loginFailures,
		Condition: "LGIF/DBAF from a client IP that is not private, loopback, link-local, CGNAT or allow-listed; one finding per source per XELWATCH_THROTTLE_WINDOW (1h)"}, auth004, needs{}},
	{RuleInfo{ID: "AUTH-006", Title: "Attack tool application or host name", Severity: High, Technique: "T1588.002", Phase: 2, Windowed: true,
		Groups: append([]string{"SUCCESSFUL_LOGIN_GROUP", "SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP"}, grpFailedAuth...), Actions: append(append([]string{}, loginSuccesses...), loginFailures...),
		Condition: "login record whose application_name or host_name names, as whole words and in any case, a SQL attack tool (sqlmap, Havij, sqlninja, impacket, mssqlclient, PowerUpSQL, Metasploit, CrackMapExec, …), a password guesser or network scanner (nmap, hydra, medusa, ncrack, …) or a web or vulnerability scanner (Acunetix, Netsparker/Invicti, Burp, w3af, Nessus, OpenVAS, Nikto, AppScan, OWASP ZAP, …); XELWATCH_ATTACK_TOOLS adds names and removes built-in ones (\"-nmap\", \"-*\"); silent when the application is allow-listed; one finding per source and tool per throttle window"}, auth006, needs{}},
	{RuleInfo{ID: "AUTH-007", Title: "Connections refused by the firewall from one address", Severity: Low, Technique: "T1595", Phase: 2, Windowed: true,
		Groups: append([]string{grpBatch}, grpFailedAuth...), Actions: errorActions,
		Condition: "at least XELWATCH_FIREWALL_ERROR_THRESHOLD (3) LGIF/DBAF/BCM/RCM records carrying error 40615 (server firewall) or 40914 (virtual network rule) in additional_information from one client IP within XELWATCH_ERROR_WINDOW (1h); one finding per source per window"}, auth007, needs{errors: true}},
	{RuleInfo{ID: "AUTH-008", Title: "Failed login", Severity: Info, Technique: "T1110", Phase: 2, Windowed: true,
		Groups: grpFailedAuth, Actions: loginFailures,
		Condition: "LGIF/DBAF, with the error number and state when additional_information has them; one finding per principal and client IP per XELWATCH_THROTTLE_WINDOW (1h)"}, auth008, needs{}},
	{RuleInfo{ID: "AUTH-009", Title: "Repeated failed logins for one principal from one address", Severity: Info, Technique: "T1110.001", Phase: 2, Windowed: true,
		Groups: grpFailedAuth, Actions: loginFailures,
		Condition: "at least XELWATCH_FAILED_LOGIN_REPEAT_THRESHOLD (3) LGIF/DBAF for one principal from one client IP within XELWATCH_FAILED_LOGIN_REPEAT_WINDOW (1h); one finding per principal and source per window"}, auth009, needs{}},
	{RuleInfo{ID: "AUTH-010", Title: "Credential errors for one principal from one address", Severity: Medium, Technique: "T1110", Phase: 2, Windowed: true,
		Groups: append([]string{grpBatch}, grpFailedAuth...), Actions: errorActions,
		Condition: "at least XELWATCH_CREDENTIAL_ERROR_THRESHOLD (5) LGIF/DBAF/BCM/RCM records carrying a credential error (18456 login failed, 18452, 18470 disabled, 18486 locked out, 18487/18488 expired or must change, 18489) for one principal from one client IP within XELWATCH_ERROR_WINDOW (1h); one finding per principal and source per window"}, auth010, needs{errors: true}},

	// E. Destructive actions (phase 2).
	{RuleInfo{ID: "DES-001", Title: "Database or table dropped or truncated", Severity: Medium, Technique: "T1485", Phase: 2,
		Groups: []string{"DATABASE_CHANGE_GROUP", "SCHEMA_OBJECT_CHANGE_GROUP", grpBatch}, Actions: withStmt("DR"),
		Condition: "DR class DB (high); DR class U, or a statement DROP TABLE / TRUNCATE TABLE on a non-temporary table, by a non-allow-listed actor (medium)"}, des001, needs{hints: hintDrop}},
	{RuleInfo{ID: "DES-003", Title: "Restore over an existing database", Severity: Medium, Technique: "T1485", Phase: 2, Maintenance: true,
		Groups: []string{grpBackup}, Actions: []string{"RS"},
		Condition: "RS with WITH REPLACE"}, des003, needs{}},
	{RuleInfo{ID: "DES-004", Title: "Ledger tampering", Severity: High, Technique: "T1565.001", Phase: 2,
		Groups: []string{"LEDGER_OPERATION_GROUP"}, Actions: []string{"ALLR"},
		Condition: "ALLR (drop, rename or convert of a ledger table)"}, des004, needs{}},
	{RuleInfo{ID: "DES-005", Title: "SQL Server stopped or paused", Severity: Low, Technique: "T1489", Phase: 2, Maintenance: true,
		Groups: []string{"SERVER_STATE_CHANGE_GROUP"}, Actions: []string{"SVSD", "SVPD"},
		Condition: "SVSD or SVPD"}, des005, needs{}},

	// F. Suspicious execution (phase 2).
	{RuleInfo{ID: "EXE-001", Title: "xp_cmdshell executed", Severity: High, Technique: "T1059", Phase: 2,
		Groups: grpExecution, Actions: withStmt(),
		Condition: "EX of xp_cmdshell, or xp_cmdshell as an identifier in a statement (not inside a string literal)"}, exe001, needs{hints: hintProc}},
	{RuleInfo{ID: "EXE-002", Title: "Dangerous server feature enabled", Severity: High, Technique: "T1505.001", Phase: 2,
		Groups: append([]string{"SERVER_OPERATION_GROUP"}, grpExecution...), Actions: withStmt("ALST"),
		Condition: "sp_configure (EX, ALST or statement) setting xp_cmdshell, Ole Automation Procedures, clr enabled, external scripts enabled, Ad Hoc Distributed Queries, Database Mail XPs or show advanced options to 1, or clr strict security to 0"}, exe002, needs{procs: []string{"configure"}}},
	{RuleInfo{ID: "EXE-003", Title: "OLE automation procedures called", Severity: High, Technique: "T1059", Phase: 2,
		Groups: grpExecution, Actions: withStmt(),
		Condition: "sp_OACreate, sp_OAMethod, sp_OASetProperty, sp_OAGetProperty or sp_OADestroy executed"}, exe003, needs{procs: []string{"oa"}}},
	{RuleInfo{ID: "EXE-004", Title: "CLR assembly or extended procedure registration", Severity: High, Technique: "T1505.001", Phase: 2,
		Groups: append([]string{"SERVER_OPERATION_GROUP", grpDBObj}, grpExecution...), Actions: withStmt("XU", "XA", "CR", "AL"),
		Condition: "XU/XA; CR/AL class AS with PERMISSION_SET = UNSAFE or EXTERNAL_ACCESS; sp_add_trusted_assembly; sp_addextendedproc"}, exe004, needs{procs: []string{"add"}}},
	{RuleInfo{ID: "EXE-005", Title: "External script executed", Severity: Medium, Technique: "T1059", Phase: 2,
		Groups: grpExecution, Actions: withStmt(),
		Condition: "sp_execute_external_script executed"}, exe005, needs{procs: []string{"execute_external"}}},
	{RuleInfo{ID: "EXE-006", Title: "Agent job with operating system step", Severity: Medium, Technique: "T1053", Phase: 2,
		Groups: grpExecution, Actions: withStmt(),
		Condition: "sp_add_job/sp_add_jobstep with @subsystem = CmdExec, PowerShell or ActiveScripting"}, exe006, needs{procs: []string{"add"}}},
	{RuleInfo{ID: "EXE-007", Title: "Registry or file-system procedure called", Severity: Medium, Technique: "T1112", Phase: 2, ActorAllowList: true,
		Groups: grpExecution, Actions: withStmt(),
		Condition: "xp_regwrite, xp_regdeletekey, xp_regdeletevalue, xp_regread, xp_dirtree, xp_subdirs or xp_fileexist executed (UNC arguments noted: NTLM coercion), unless the actor is allow-listed"}, exe007, needs{hints: hintProc}},
	{RuleInfo{ID: "EXE-008", Title: "Outbound reference in statement", Severity: Medium, Technique: "T1105", Phase: 2,
		Groups: grpExecution, Actions: withStmt(),
		Condition: "string literal with http://, https://, ftp:// or a UNC path outside the destination allow-list (XML namespaces of microsoft.com and w3.org excepted; BACKUP/RESTORE and credentials are left to the EXF rules)"}, exe008, needs{hints: hintURL | hintUNC}},
	{RuleInfo{ID: "EXE-009", Title: "SQL injection in statement", Severity: High, Technique: "T1190", Phase: 2,
		Groups: []string{grpBatch}, Actions: batchOnly,
		Condition: "a batch or RPC statement showing injected SQL, judged on its tokens (comments removed, case folded; string literals and comments never match): a tautology (OR 1=1, OR 'a'='a', OR 2>1; AND 1=1 right after a value; WHERE 'a'='a', but not a builder's WHERE 1=1); UNION [ALL] SELECT appended to a filtered query that pads with NULLs or probes column counts without FROM, or reads @@version/system_user/… or the catalog or credentials (information_schema, sys.sql_logins, sysobjects, …) when that query does not; a line comment at the end that swallows the closing quote (admin'--', stacked queries '; DROP TABLE t--'); WAITFOR DELAY/TIME last in the batch after a filtered SELECT/UPDATE/DELETE or a call with literal arguments, or as the body of an IF testing data (never in a SQL Agent job step); medium for a short, complete statement that ends inside a string literal (unclosed quotation mark, error 105)"}, exe009, needs{hints: hintInject, words: []string{"union", "waitfor"}}},
	{RuleInfo{ID: "EXE-010", Title: "Obfuscated dangerous call", Severity: Medium, Technique: "T1027", Phase: 2,
		Groups: grpExecution, Actions: withStmt(),
		Condition: "a watched name (xp_cmdshell, sp_OACreate, sp_configure, …) built by concatenating literals, CHAR()/NCHAR() or 0x literals, and present in no single literal"}, exe010, needs{hints: hintProc | hintChar | hintHex}},
	{RuleInfo{ID: "EXE-011", Title: "Azure SQL firewall rule changed from T-SQL", Severity: Medium, Technique: "T1562.004", Phase: 2,
		Groups: grpExecution, Actions: withStmt(),
		Condition: "sp_set_firewall_rule, sp_set_database_firewall_rule, sp_delete_firewall_rule or sp_delete_database_firewall_rule executed"}, exe011, needs{procs: []string{"set_", "delete_"}}},
	{RuleInfo{ID: "EXE-012", Title: "Syntax errors from one source (injection probing)", Severity: Medium, Technique: "T1190", Phase: 2, Windowed: true,
		Groups: []string{grpBatch}, Actions: []string{"BCM", "RCM"},
		Condition: "at least XELWATCH_SYNTAX_ERROR_THRESHOLD (3) distinct statements failing with error 102 (incorrect syntax) or 105 (unclosed quotation mark) for one principal from one client IP within XELWATCH_ERROR_WINDOW (1h); one finding per principal and source per window"}, exe012, needs{errors: true}},
	{RuleInfo{ID: "EXE-013", Title: "Unknown extended procedure or legacy attack procedure executed", Severity: High, Technique: "T1505", Phase: 2,
		Groups: grpExecution, Actions: withStmt(),
		Condition: "EX of an xp_ procedure SQL Server does not ship, or of any class X (extended procedure) object outside the system set not named sp_ (a DLL loaded into the server, e.g. the Maggie backdoor); a statement executing such an xp_ name; medium for sp_makewebtask, sp_dropextendedproc and sp_password"}, exe013, needs{hints: hintProc, procs: []string{"makewebtask", "dropextendedproc", "password"}}},

	// H. Discovery (phase 2).
	{RuleInfo{ID: "REC-001", Title: "Credential or network reconnaissance", Severity: Low, Technique: "T1082", Phase: 2, ActorAllowList: true,
		Groups: grpExecution, Actions: withStmt(),
		Condition: "xp_msver, xp_fixeddrives, xp_availablemedia, xp_enumgroups, xp_loginconfig, xp_logininfo, xp_getnetname, xp_ntsec_enumdomains, xp_regenumkeys/values, xp_enumerrorlogs or xp_readerrorlog executed; a statement reading sys.firewall_rules / sys.database_firewall_rules (and IPv6); medium for reading password hashes (password_hash, LOGINPROPERTY(…, 'PasswordHash'), SELECT * or password from sys.sql_logins / syslogins); unless the actor is allow-listed (xp_dirtree, xp_subdirs, xp_fileexist and xp_regread are EXE-007)"}, rec001, needs{hints: hintProc, words: []string{"sql_logins", "syslogins", "sysxlogins", "password_hash", "loginproperty", "firewall_rules", "database_firewall_rules", "ipv6_firewall_rules", "ipv6_database_firewall_rules"}}},

	// I. Behavioural baselines (phase 3): what is usual per server and
	// principal, learned from the records (rules_bas.go).
	{RuleInfo{ID: "BAS-001", Title: "Principal new to the server", Severity: Low, Technique: "T1078", Phase: 3, Baseline: true,
		Groups: basGroups, Actions: basActions,
		Condition: "a successful LGIS/DBAS or a statement record (BCM, RCM, BST, RST) of a principal not seen on the server within XELWATCH_BASELINE_WINDOW (30 days); silent during XELWATCH_BASELINE_LEARNING (7 days) after the first record the baseline kept for the server"}, bas001, needs{}},
	{RuleInfo{ID: "BAS-002", Title: "New client network or application for a principal", Severity: Low, Technique: "T1078", Phase: 3, Baseline: true,
		Groups: basGroups, Actions: basActions,
		Condition: "the same records, from a client network (IPv4 /24, IPv6 /48) or an application (name without its parenthesised details) that the principal did not use on the server within the baseline window; silent during the learning period after the principal's first record; at most XELWATCH_BASELINE_MAX_VALUES (64) networks and applications kept per principal"}, bas002, needs{}},
	{RuleInfo{ID: "BAS-003", Title: "Backup to a destination not used before", Severity: Medium, Technique: "T1537", Phase: 3, Baseline: true,
		Groups: []string{grpBackup}, Actions: []string{"BA", "BAL"},
		Condition: "successful BA/BAL of a database to a destination (URL scheme, host and container; disk or share directory; tape or device) that no backup of the server used within the baseline window, allow-listed or not (per-rule allowed_backup_destinations silence it); silent during the learning period after the server's first backup"}, bas003, needs{}},
	{RuleInfo{ID: "BAS-004", Title: "Row volume above the principal's baseline", Severity: Medium, Technique: "T1213", Phase: 3, Baseline: true,
		Groups: []string{grpBatch}, Actions: []string{"BCM", "RCM"},
		Condition: "BCM/RCM whose response_rows or affected_rows is at least XELWATCH_BASELINE_ROWS_FLOOR (10,000) and above the largest peak and the mean + XELWATCH_BASELINE_ROWS_K (3) standard deviations of the principal's peaks per audit file and day within the baseline window (at least 3 of them, its own file and day excluded); silent during the learning period after the principal's first record"}, bas004, needs{}},
}

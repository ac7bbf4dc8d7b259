// Package sigmarules reads the operator's Sigma rule files
// (XELWATCH_SIGMA_RULES, or scan --sigma): a list of files and folders;
// folders are walked recursively for *.yml and *.yaml in name order
// (symbolic links to folders are not followed, non-regular files are
// never opened). Each file is parsed and validated by package
// detect/sigma. Load fails, naming every bad file and why, when a file
// cannot be read or is not a rule xelwatch can evaluate exactly; rules
// for other logsources are skipped and listed. Bounded: at most
// sigma.MaxRules rule files, sigma.MaxRuleBytes per file, MaxTotalBytes
// in all, MaxDepth folder levels.
package sigmarules

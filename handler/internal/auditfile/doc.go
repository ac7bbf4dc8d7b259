// Package auditfile lists and opens the local audit files (.xel,
// .sqlaudit) that xelwatch decode, xelwatch scan and xelwatch watch --dir
// read, under one set of rules for folders someone else may have filled:
//
//   - Only regular files are opened; a symbolic link to one is followed.
//     A FIFO, device, socket, directory, dangling link or link loop with
//     an audit file's name is not opened and is reported as a *SkipError
//     saying which it was.
//   - Opening never blocks: the path is checked with stat first, then
//     opened with O_NONBLOCK and O_NOCTTY and checked again with fstat,
//     so a file swapped for a FIFO between the two is refused, not read.
//   - Walk lists a folder (recursively or not) in name order, bounded in
//     files, entries and depth; it goes on past what it cannot read and
//     reports it, and stops when its context ends. Symbolic links to
//     folders are not followed.
package auditfile

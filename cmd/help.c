/* mailvault: help texts. Kept in one place so that README.md and --help stay in step. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char overview[] =
    "usage: mailvault [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Archive mailboxes into one compressed SQLite file per account, with every message's\n"
    "exact bytes stored once (by SHA-256).\n"
    "\n"
    "Commands:\n"
    "  init      create (or upgrade) an archive\n"
    "  import    add local mail: Maildir trees, mbox files, .eml files\n"
    "  list      folders and message counts; --messages for the messages\n"
    "  search    find messages: words, \"phrases\", from: to: subject: date: is: ...\n"
    "  show      print one message for reading (--raw: its exact bytes)\n"
    "  reindex   bring the search index up to date (--all: rebuild it)\n"
    "  export    write archived mail out as Maildir, mbox or .eml files\n"
    "  verify    re-read every message and check it against its SHA-256\n"
    "  stats     sizes, compression ratio, per-folder figures\n"
    "  sync      mirror IMAP and POP3 accounts from the configuration into their archives\n"
    "  help CMD  help for one command\n"
    "\n"
    "Global options (also accepted after the command):\n"
    "  --archive PATH     the archive file (default:\n"
    "                     $XDG_DATA_HOME/mailvault/ACCOUNT.sqlite, or\n"
    "                     ~/.local/share/mailvault/ACCOUNT.sqlite)\n"
    "  --account NAME     account whose archive to use (default: local)\n"
    "  --config PATH      configuration file (default: $XDG_CONFIG_HOME/mailvault/config,\n"
    "                     or ~/.config/mailvault/config)\n"
    "  --lock-wait SECS   if another mailvault is writing the archive, wait this long\n"
    "                     (default: fail at once with exit code 6)\n"
    "  -q, --quiet        only errors on stderr (no progress)\n"
    "  -h, --help         this help; `mailvault COMMAND --help` for a command\n"
    "  -V, --version      version of mailvault and of its libraries\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  internal error (a bug, or out of memory)\n"
    "  2  usage error (bad command, option or argument)\n"
    "  3  partial failure: some items failed (each reported), the rest was done\n"
    "  4  input error: path unreadable or not mail; no such message or folder\n"
    "  5  archive error: not a mailvault archive, newer schema, damaged database, I/O\n"
    "  6  archive locked: another mailvault process is writing it\n"
    "  7  cannot write: archive read-only, disk full or file size limit\n"
    "  8  verify found damaged messages\n"
    "  9  configuration error\n"
    " 10  connection error or timeout\n"
    " 11  TLS or certificate error\n"
    " 12  authentication failed\n"
    " 13  protocol error: the server sent something mailvault cannot accept\n"
    "A failed command leaves the archive as it was before the failing batch: every batch of\n"
    "messages is committed whole or not at all.\n";

static const struct {
    const char *name;
    const char *text;
} texts[] = {
    {"init",
     "usage: mailvault init [--no-dictionary] [--compression-level N]\n"
     "\n"
     "Creates the archive (mode 0600, its directory 0700) or, if it exists, upgrades its\n"
     "schema. Other writing commands create a missing archive too; init is for choosing\n"
     "options up front.\n"
     "\n"
     "  --no-dictionary   never train a zlib preset dictionary for this archive (by default\n"
     "                    one is trained from stored headers once 100 messages are in, and\n"
     "                    again each time the archive grows tenfold; it makes small\n"
     "                    messages compress better)\n"
     "  --compression-level N\n"
     "                    zlib level 1 (fastest) to 9 (smallest) for messages stored from now\n"
     "                    on, kept in the archive (default 6; 1 syncs about a third faster\n"
     "                    for an archive a few percent larger). Also changes an existing\n"
     "                    archive.\n"},
    {"import",
     "usage: mailvault import [--folder NAME] [--mbox-variant rd|o] PATH...\n"
     "\n"
     "Adds local mail to the archive. PATH may be a Maildir (with Maildir++ subfolders such\n"
     "as .Lists.dev, which becomes folder Lists/dev), a directory tree of Maildirs, mbox files\n"
     "or message files, an mbox file, or a single message (.eml) file. Flags come from\n"
     "Maildir file names (:2,FRS) and from mbox Status:/X-Status: headers; the INTERNALDATE\n"
     "from the file's mtime or the mbox From_ line.\n"
     "\n"
     "Content already in the archive is never stored twice: importing the same tree again\n"
     "adds nothing (changed Maildir flags are updated and recorded in the flag history).\n"
     "Files that are not mail, or truncated mbox files, are reported one per line and\n"
     "skipped (exit code 3); nothing from a truncated mbox is imported.\n"
     "\n"
     "  --folder NAME        file the mail under NAME (a Maildir root, an mbox or a message\n"
     "                       file) or under NAME/... (subfolders)\n"
     "  --mbox-variant rd|o  how body lines starting with \"From \" were escaped: rd (mboxrd,\n"
     "                       default: one '>' removed from >From, >>From, ...) or o (mboxo:\n"
     "                       only >From loses its '>')\n"},
    {"list",
     "usage: mailvault list [--messages | --sha256] [--folder NAME] [--expunged]\n"
     "\n"
     "Without options: every folder with its message count, the messages the server has\n"
     "deleted (still archived), and their size. With --messages: one line per message with\n"
     "its ID (for `show`), date, folder, flags (Maildir letters: D draft, F flagged,\n"
     "P forwarded, R answered, S seen, T deleted), sender and subject.\n"
     "\n"
     "  --messages     list messages instead of folders\n"
     "  --folder NAME  only this folder\n"
     "  --expunged     with --messages: include messages deleted on the server\n"
     "  --sha256       one line per message: its SHA-256 and folder, in sha256sum's layout\n"},
    {"show",
     "usage: mailvault show [--raw] ID\n"
     "\n"
     "Shows the message for reading: Date, From, To and Subject decoded, the attachments by\n"
     "name, and the text of its body (HTML turned into text, every charset into UTF-8). With\n"
     "--raw, writes its exact archived bytes instead. ID is the number shown by\n"
     "`list --messages` or `search`, or at least 8 hex digits of the message's SHA-256.\n"},
    {"search",
     "usage: mailvault search [--limit N] [--json] [--count] [--output=ids] QUERY...\n"
     "\n"
     "Finds archived messages, newest first (messages containing the query's accented words\n"
     "exactly come first). The query:\n"
     "  word word         both words (anywhere: headers, body, attachment names)\n"
     "  \"a phrase\"        the words in this order      prefix*   words starting so\n"
     "  a OR b, NOT a, -a, ( ... )                     (NOT binds tightest, then AND, OR)\n"
     "  from: to: subject: body: attachment:NAME       (to: covers To, Cc and Bcc)\n"
     "  folder:NAME (* and ? wildcards)  account:NAME  id:MESSAGE-ID\n"
     "  date:2019..2020-06-30  date:2019-03  before:DATE  after:DATE  (DATE: YYYY,\n"
     "                    YYYY-MM, YYYY-MM-DD, today, yesterday, 7d, 2w, 3m, 1y)\n"
     "  is:unread|read|flagged|answered|draft|expunged  (expunged: deleted on the server)\n"
     "  has:attachment    size:>1M  size:<10k  size:100k..2M\n"
     "Accents and case do not matter (\"da nang\" finds \"Đà Nẵng\"); Chinese, Japanese\n"
     "and Korean words are found inside sentences without spaces.\n"
     "\n"
     "  --limit N       at most N results (default 50; 0: all)\n"
     "  --json          results as JSON (id, sha256, date, from, to, subject, folders,\n"
     "                  deleted_on_server, snippet)\n"
     "  --count         only the number of matching messages\n"
     "  --output=ids    only the message IDs, one per line (for scripts and `show`)\n"
     "`mailvault export --query QUERY` exports the matches.\n"},
    {"reindex",
     "usage: mailvault reindex [--all]\n"
     "\n"
     "Indexes the messages that are not in the search index yet (archives written before\n"
     "the index existed); with --all, rebuilds the whole index. Sync and import index new\n"
     "mail as they store it, so this is rarely needed. Interrupted, it resumes.\n"},
    {"export",
     "usage: mailvault export --format maildir|mbox|eml --out DIR [--folder NAME]\n"
     "                        [--query QUERY] [--no-expunged]\n"
     "\n"
     "Writes archived mail to DIR, one subdirectory (or .mbox file) per folder:\n"
     "  maildir  DIR/FOLDER/{cur,new,tmp}, flags in file names, mtime = INTERNALDATE\n"
     "  mbox     DIR/FOLDER.mbox in mboxrd form\n"
     "  eml      DIR/FOLDER/ID.eml\n"
     "Message bytes are written exactly as archived, so `import DIR` gives the same\n"
     "messages back. (mbox cannot hold a message without a final newline; one is added and\n"
     "reported.) Existing maildir/eml files are left alone; mbox files are replaced whole.\n"
     "\n"
     "  --folder NAME   only this folder\n"
     "  --query QUERY   only the messages `mailvault search QUERY` finds\n"
     "  --no-expunged   leave out messages the server has deleted (included by default:\n"
     "                  they are part of the archive)\n"},
    {"verify",
     "usage: mailvault verify\n"
     "\n"
     "Decompresses every stored message, recomputes its SHA-256 and size, and runs SQLite's\n"
     "integrity and foreign-key checks. Prints one line per problem, naming the damaged\n"
     "message and the folders it is filed in; exits 8 if anything is damaged.\n"},
    {"sync",
     "usage: mailvault sync [--dry-run] [--json] [-v] [--connections N] [--trace] [ACCOUNT...]\n"
     "\n"
     "Mirrors each IMAP or POP3 account of the configuration into its archive, fetching only what\n"
     "changed since the last run. With no ACCOUNT: the --account one, or the only one\n"
     "configured.\n"
     "Nothing on the server changes: folders are opened with EXAMINE and bodies fetched with\n"
     "BODY.PEEK[]. Per folder, new mail (UIDs from the stored UIDNEXT on) is fetched in\n"
     "pipelined batches, each committed together with the folder's state, so an interrupted\n"
     "run resumes where it stopped; flag changes are recorded in the flag history; mail deleted\n"
     "on the server stays archived, marked as deleted; a folder whose UIDVALIDITY changed is\n"
     "fetched again and matched by content. Folders unchanged since the last run (per\n"
     "LIST-STATUS) are skipped. A dropped connection is retried with backoff.\n"
     "\n"
     "  --dry-run        report what would be fetched, flag changes and deletions; write\n"
     "                   nothing\n"
     "  --json           a JSON report on stdout (per folder: new, stored, bytes,\n"
     "                   flag_changes, expunged, seconds, status, error)\n"
     "  --connections N  parallel IMAP connections, 1 to 16 (default: the account's\n"
     "                   `connections`, else 2)\n"
     "  -v, --verbose    print the per-folder table even when not on a terminal\n"
     "  --trace          print the IMAP conversation to stderr (never the login)\n"
     "\n"
     "POP3 accounts (protocol = pop3) fetch every message whose UIDL is not archived yet into\n"
     "the account's folder and leave mail on the server unless delete_after_days is set; see\n"
     "README.md.\n"
     "\n"
     "On a terminal a progress line shows folders, messages, bytes, rate and ETA, then a\n"
     "table per folder; otherwise (cron) or with --quiet only errors are printed, one line\n"
     "per failed folder. Exit codes: 0 all folders synced; 3 some folders failed (the others\n"
     "are done); 5/6/7 archive errors; 9 configuration (e.g. a password over an unencrypted\n"
     "connection without allow_plaintext); 10 connection; 11 TLS; 12 authentication.\n"
     "Account settings (host, tls, user, passcmd, include/exclude, ...) are described in\n"
     "README.md and examples/config/.\n"},
    {"stats",
     "usage: mailvault stats\n"
     "\n"
     "Messages (distinct contents and folder entries), raw bytes, stored (compressed) bytes,\n"
     "the compression ratio, how many messages use a trained dictionary, and the same per\n"
     "folder.\n"},
};

void mv_cli_help(const char *command)
{
    if (command) {
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            if (strcmp(texts[i].name, command) == 0) {
                fputs(texts[i].text, stdout);
                fputs("\nGlobal options (--archive, --account, --config, --lock-wait, --quiet) and "
                      "exit "
                      "codes: `mailvault --help`.\n",
                      stdout);
                return;
            }
        }
    }
    fputs(overview, stdout);
}

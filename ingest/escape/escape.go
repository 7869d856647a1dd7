// Package escape makes attacker-written text harmless in every place o365ingest shows it.
//
// Audit records are written by whoever controls an account: an inbox rule's name, a file
// name, a mail subject or a user agent can hold spreadsheet formulas, terminal escape
// sequences, PowerShell quote characters or chat markup. Every output of o365ingest that
// shows record text goes through one helper of this package, chosen by where the text
// lands:
//
//   - CSV files (opened in Excel, LibreOffice, Google Sheets): CSVCell, CSVWriter.
//   - A terminal (tables, lists, one-line messages): Terminal, TerminalCell.
//   - A PowerShell command shown for an operator to paste: PowerShell.
//   - Slack (Block Kit): Slack for any text Slack parses, SlackMrkdwn for mrkdwn.
//   - Microsoft Teams (Adaptive Cards): TeamsMarkdown for TextBlock and FactSet text.
//
// The HTML report escapes through html/template and needs nothing from here; JSON
// output is escaped by encoding/json.
//
// Guarantees, each proven by this package's tests with the attack strings of issue 11:
//   - No CSV cell starts with a character a spreadsheet reads as a formula.
//   - No byte sequence a terminal interprets (C0 controls, DEL, C1 controls, ESC,
//     invalid UTF-8, bidirectional overrides) reaches it: each is shown as a visible
//     escape such as \x1b.
//   - A PowerShell literal evaluates to exactly the input string and cannot be left
//     early by any of the five characters PowerShell takes for a single quote; control
//     characters appear as [char]0x.. rather than raw.
//   - Slack and Teams show record text as text: no mention, link, code block or
//     formatting can be made by it.
package escape

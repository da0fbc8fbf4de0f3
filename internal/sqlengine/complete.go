package sqlengine

// Complete reports whether sql ends with a complete statement: its last
// token outside quotes and comments is a semicolon. It is what the shell
// asks before executing a line, as sqlite3_complete() does for osquery's
// shell (the driver does not expose that call). Triggers, whose bodies hold
// semicolons, are refused by the authorizer anyway.
func Complete(sql string) bool {
	complete := false
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == ';':
			complete = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := -1
			for j := i + 2; j+1 < len(sql); j++ {
				if sql[j] == '*' && sql[j+1] == '/' {
					end = j + 1
					break
				}
			}
			if end < 0 {
				return false
			}
			i = end
		case c == '\'' || c == '"' || c == '`' || c == '[':
			closer := c
			if c == '[' {
				closer = ']'
			}
			j := i + 1
			for ; j < len(sql); j++ {
				if sql[j] == closer {
					// A doubled quote is an escaped quote, not the end.
					if closer != ']' && j+1 < len(sql) && sql[j+1] == closer {
						j++
						continue
					}
					break
				}
			}
			if j >= len(sql) {
				return false
			}
			i = j
			complete = false
		default:
			complete = false
		}
	}
	return complete
}

"""The one place that opens the database: every table's DDL, migrations, the connection."""

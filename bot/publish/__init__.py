"""Publishing the year's results: the report (HTML, PDF) and open data (CSV, .xlsx)."""

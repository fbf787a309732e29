"""The bundled example workbook (installed as the package `bot.examples`)."""

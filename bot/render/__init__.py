"""Block Kit for everything Baton posts. Structure in Python; prose from `bot.render.blocks`."""

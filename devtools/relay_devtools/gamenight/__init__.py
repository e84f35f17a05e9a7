"""A game night through `relay local`, measured against what a dispatcher should see (docs/gamenight.md).

Players join, leave, rejoin and change team or callsign on the emulated ER:LC server; they type `;`
commands that reach the relay as signed event webhooks (some twice, some late); a Sonoran CAD logs
some of the same officers in and out; a dispatcher edits units in the emulated MDT; the partner fails
now and then and the ER:LC API answers one 429 and one "server offline". The relay under test is any
checkout's `relay local`, driven over HTTP only, so an older relay is measured the same way.

The model of what a dispatcher should see is the *game's* truth, not the relay's rules (model.py has
them one by one): a player's own latest command is their status; a player who is in game is on duty
even if the CAD logged them out; the CAD's name and department stand over the game's display name; a
dispatcher's edit stands until a later real change; a blip is not everyone leaving; one officer is one
unit whatever the case of the callsign.

- records.py   what happens, as data (the plan, and what the driver did)
- rules.py     the community: its relay.toml, and how its people mean what they type
- mix.py       the evening's size and mix; scenario.py the seeded plan
- model.py     the model (pure); mdt.py what the MDT showed (pure); measure.py the findings (pure)
- report.py    the report, as JSON and text, and two side by side
- client.py    the HTTP calls; relay_process.py relay local as a subprocess; driver.py the evening in
               real time; run.py one evening from start to report; __main__.py the command line
"""

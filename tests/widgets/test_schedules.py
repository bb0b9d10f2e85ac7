"""The schedules widget over a real embedded engine: it lists the schedules, pauses, resumes and deletes."""

from __future__ import annotations

from lpe_nb.client import Client
from lpe_nb.widgets import SchedulesView
from tests.widgets.helpers import NARRATIVE


def test_the_view_lists_pauses_resumes_and_deletes_schedules(client: Client) -> None:
    view = SchedulesView(client)
    try:
        assert view.schedule_ids == [] and "no schedules" in view.message.value
        hourly = client.schedule("projection", narrative=NARRATIVE, cron="0 * * * *", timezone="Europe/Paris")
        daily = client.schedule("projection", narrative=NARRATIVE, interval_s=86_400, catch_up="once")
        view.refresh_button.click()
        assert view.schedule_ids == [hourly.id, daily.id]
        row = view.rows[hourly.id]
        assert "cron &#x27;0 * * * *&#x27; (Europe/Paris)" in row.label.value and "next 20" in row.label.value
        assert (
            "every 86400 s" in view.rows[daily.id].label.value
            and "catch-up once" in view.rows[daily.id].label.value
        )
        row.toggle_button.click()
        assert client.get_schedule(hourly.id).paused and "paused" in row.label.value
        assert row.toggle_button.description == "Resume"
        row.toggle_button.click()
        assert not client.get_schedule(hourly.id).paused and row.toggle_button.description == "Pause"
        view.rows[daily.id].delete_button.click()
        assert view.schedule_ids == [hourly.id] and [s.id for s in client.schedules()] == [hourly.id]
        client.get_schedule(hourly.id).delete()  # elsewhere: the row's button then says it is gone
        row.toggle_button.click()
        assert "no schedule" in view.message.value and view.schedule_ids == []
    finally:
        view.close()

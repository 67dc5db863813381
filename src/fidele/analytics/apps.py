from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "fidele.analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from fidele.analytics.tasks import rollup_schedule
        from fidele.core.tasks import recurring_job_register

        recurring_job_register("analytics-rollup", rollup_schedule)

        from fidele.analytics.dashboard_tasks import (
            daily_rollup_schedule,
            dashboard_after_import_queue,
            dashboard_nightly_schedule,
        )
        from fidele.core.events import import_finished

        # The dashboards read rollups: counted every hour, their monthly tables every night,
        # and both again after each import.
        recurring_job_register("analytics-daily-rollup", daily_rollup_schedule)
        recurring_job_register("analytics-dashboard-nightly", dashboard_nightly_schedule)
        import_finished.connect(
            dashboard_after_import_queue, dispatch_uid="fidele.analytics.dashboard"
        )

        from fidele.analytics.merge import PARTICIPANT
        from fidele.contacts.merge import merge_participant_register

        # Attributions follow their orders when two contacts are merged.
        merge_participant_register(PARTICIPANT)

        from fidele.analytics.merge import PREDICTION_PARTICIPANT

        merge_participant_register(PREDICTION_PARTICIPANT)

        from fidele.analytics.clv_selectors import (
            FILTER_PARAM,
            contact_prediction_section,
            contacts_predicted_filter,
            predicted_filter_describe,
        )
        from fidele.analytics.clv_tasks import clv_after_import_queue, clv_nightly_schedule
        from fidele.contacts.sections import ContactSection, contact_section_register
        from fidele.contacts.selectors import ContactFilter, contact_filter_register
        from fidele.core.events import import_finished

        # Lifetime value and churn: refitted after each import and nightly, shown on the
        # contact page, and a filter of the contacts list (?predicted=at_risk).
        import_finished.connect(clv_after_import_queue, dispatch_uid="fidele.analytics.clv")
        recurring_job_register("analytics-clv-nightly", clv_nightly_schedule)
        contact_section_register(
            ContactSection(
                name="analytics-clv",
                template="analytics/_contact_prediction.html",
                context=contact_prediction_section,
                order=10,
            )
        )
        contact_filter_register(
            ContactFilter(
                param=FILTER_PARAM,
                apply=contacts_predicted_filter,
                describe=predicted_filter_describe,
            )
        )

        from fidele.analytics.predicted_leaf import PredictedLeaf
        from fidele.segments.leaves import leaf_register

        # Segment rules read the predictions too: {"predicted": {"metric", "op", "value"}}.
        leaf_register(PredictedLeaf())

        from fidele.analytics.clv_selectors import overview_at_risk
        from fidele.analytics.dashboard import at_risk_provider_register

        # The overview's "Customers at risk" from the churn model once it has been fitted.
        at_risk_provider_register(overview_at_risk)

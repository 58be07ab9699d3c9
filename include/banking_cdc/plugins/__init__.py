"""Code behind the Airflow plugins of ``plugins/``: the health page's web app and the dbt test listener.

The plugin files in ``plugins/`` stay thin (Airflow imports every ``.py`` file of that folder in every
component); what they register lives here, in the provider package, where it is typed and unit-tested.
"""

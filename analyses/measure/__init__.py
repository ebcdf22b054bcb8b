"""Measurements that more than one analysis needs: functions of arrays, or of a model and
mazes, with no command line and no figures (cheese-channel ranking, retargeting paths and
probabilities, probe data and estimators, behaviour tables, the selection/test split, edit
searches...). An analysis imports these; a measurement never imports an analysis."""

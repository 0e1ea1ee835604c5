package runner

import "github.com/scenario-tool/scenario/steps"

// Graph draws what the scenario's steps say about the mesh, as Graphviz
// DOT: `scenario graph` prints it, and the HTML report draws it.
func Graph(sc *Scenario) string {
	g := steps.NewGraph()
	g.SetCluster(sc.Cluster)
	for _, it := range sc.Items {
		if gr, ok := it.Step.(steps.Grapher); ok {
			g.OnNode(it.Node)
			gr.Graph(g)
		}
	}
	return g.DOT(sc.Name)
}
